"""Baselines of the weight-space benchmark (rnnzoo.bench), run for real on a zoo, scored on its test split.

    python benchmarks/bench_weightspace.py                       # the embedded sample (72 networks)
    python benchmarks/bench_weightspace.py --source /work/gen-phase --json out.json

Baselines, trained on the train split (validation is reported beside test):
  majority       the most frequent training class (learnability: the training rate of 'learned' as the score)
  hyperparams    logistic regression on (delay_ms, log10 lr) (not for the delay task, whose target is delay_ms)
  weight-stats   logistic regression on hand-made statistics of the weights: the 10 largest |eigenvalues| of
                 W_rec, the |imaginary part| of the 5 largest, the fraction of |eig| > 1, Frobenius norms, the
                 norms of W_rec's symmetric and antisymmetric parts, trace, entry mean/std (learnability: of the
                 initial weights, plus delay_ms and log10 lr)
  deepsets       a hidden-unit-permutation-invariant network: per-unit features (W_rec row and column statistics,
                 the self-weight, W_in row, biases, W_out column) -> shared MLP -> mean and max pool -> MLP head,
                 in plain torch, several seeds (mean +- std over seeds)
scikit-learn is needed for the linear baselines (`pip install -e ".[bench]"`). Zoos kept without checkpoints get
their initial weights from generation.train.init_population (the generator's own draw from each seed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

import rnnzoo
from rnnzoo.bench import TASKS, Evaluator, select, task_splits

TOP_K = 10


def weight_stats(X: dict[str, np.ndarray], extras: tuple[str, ...]) -> np.ndarray:
    """Hand-made statistics of each network's weights [M, F] (see the module docstring)."""
    W = torch.as_tensor(X["W_rec"], dtype=torch.float64)
    eig = torch.linalg.eigvals(W)
    order = eig.abs().argsort(dim=1, descending=True)
    eig = torch.gather(eig, 1, order)
    sym, anti = (W + W.transpose(1, 2)) / 2, (W - W.transpose(1, 2)) / 2
    feats = [eig.abs()[:, :TOP_K], eig.imag.abs()[:, :5], (eig.abs() > 1).double().mean(1, keepdim=True)]
    feats += [torch.linalg.matrix_norm(m).unsqueeze(1) for m in (W, sym, anti)]
    feats += [W.diagonal(dim1=1, dim2=2).sum(1, keepdim=True), W.mean((1, 2)).unsqueeze(1), W.std((1, 2)).unsqueeze(1)]
    for name in ("W_in", "W_out", "b_in", "b_rec", "b_out"):
        feats.append(torch.as_tensor(X[name], dtype=torch.float64).reshape(len(W), -1).norm(dim=1, keepdim=True))
    out = torch.cat(feats, 1).numpy()
    return np.concatenate([out, hyper_features(X, extras)], 1) if extras else out


def hyper_features(X: dict[str, np.ndarray], extras: tuple[str, ...] = ("delay_ms", "lr")) -> np.ndarray:
    cols = [np.log10(X[name]) if name == "lr" else X[name] for name in extras]
    return np.stack(cols, 1).astype(np.float64)


def unit_features(X: dict[str, np.ndarray]) -> torch.Tensor:
    """[M, N, 12] per-hidden-unit features, equivariant under permutations of the units."""
    W = torch.as_tensor(X["W_rec"])
    feats = [W.mean(2), W.std(2), W.abs().amax(2), W.mean(1), W.std(1), W.diagonal(dim1=1, dim2=2),
             torch.as_tensor(X["b_in"]), torch.as_tensor(X["b_rec"])]
    feats = [f.unsqueeze(-1) for f in feats]
    feats += [torch.as_tensor(X["W_in"]), torch.as_tensor(X["W_out"]).transpose(1, 2)]
    return torch.cat(feats, -1).float()


class DeepSets(torch.nn.Module):
    """phi over units (shared MLP), mean + max pooling, rho head; extras (lr, delay) join after pooling."""

    def __init__(self, n_features: int, n_extras: int, n_out: int, width: int = 64):
        super().__init__()
        self.phi = torch.nn.Sequential(torch.nn.Linear(n_features, width), torch.nn.ReLU(),
                                       torch.nn.Linear(width, width), torch.nn.ReLU())
        self.rho = torch.nn.Sequential(torch.nn.Linear(2 * width + n_extras, width), torch.nn.ReLU(),
                                       torch.nn.Linear(width, n_out))

    def forward(self, units: torch.Tensor, extras: torch.Tensor) -> torch.Tensor:
        h = self.phi(units)
        return self.rho(torch.cat([h.mean(1), h.amax(1), extras], 1))


def fit_deepsets(train, evals, n_classes: int, seed: int, epochs: int = 400, check_every: int = 20
                 ) -> list[np.ndarray]:
    """Train one DeepSets model (Adam, full batch) and return its class probabilities per eval set, from the
    epoch with the lowest validation loss (evals[0] is the validation split when the zoo has one)."""
    torch.manual_seed(seed)
    (u, e, y) = train
    mu, sd = u.mean((0, 1)), u.std((0, 1)) + 1e-6
    emu, esd = (e.mean(0), e.std(0) + 1e-6) if e.shape[1] else (e.mean(0), torch.ones(0))
    model = DeepSets(u.shape[-1], e.shape[1], n_classes)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    target = torch.as_tensor(np.array(y))
    val_u, val_e, val_y = evals[0]
    best, best_loss = None, float("inf")

    def predict():
        with torch.no_grad():
            return [torch.softmax(model((uu - mu) / sd, (ee - emu) / esd), 1).numpy() for uu, ee, _ in evals]

    for epoch in range(1, epochs + 1):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model((u - mu) / sd, (e - emu) / esd), target)
        loss.backward()
        opt.step()
        if epoch % check_every == 0:
            with torch.no_grad():
                val = torch.nn.functional.cross_entropy(model((val_u - mu) / sd, (val_e - emu) / esd),
                                                        torch.as_tensor(np.array(val_y))).item()
            if val < best_loss:
                best, best_loss = predict(), val
    return best if best is not None else predict()


def class_codes(task, y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Each target's position in `classes` (the task's codes, or the zoo's delays): the models' output index."""
    return np.searchsorted(classes, y)


def decode(task, probs: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Predictions as Evaluator expects them: P(learned) for learnability, the mechanism's code or the delay in ms
    otherwise."""
    if task.name == "learnability":
        return probs[:, 1] if probs.shape[1] > 1 else np.full(len(probs), float(classes[0]))
    return classes[probs.argmax(1)]


def run_task(zoo, name: str, seeds: list[int], initial=None) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    task = TASKS[name]
    data = task_splits(zoo, name, initial=initial)
    for split, (X, _) in data.items():  # the hyperparameters-only baseline reads them for every task
        meta = select(zoo, name, split).metadata
        X["_hyper"] = np.stack([meta["delay_ms"].to_numpy(float), np.log10(meta["lr"].to_numpy(float))], 1)
    if "train" not in data or "test" not in data:
        return {"skipped": f"the zoo has no train or no test networks for {name}"}
    evaluator = Evaluator(name)
    Xtr, ytr = data["train"]
    classes = np.array(task.codes) if task.codes else np.unique(ytr)
    codes_tr = class_codes(task, ytr, classes)
    evals = [s for s in ("validation", "test") if s in data]
    out = {"n": {s: int(len(data[s][1])) for s in data}, "results": {}}

    def score(pred_of_split) -> dict:
        return {s: evaluator.eval(data[s][1], pred_of_split(s)) for s in evals}

    # majority
    counts = np.bincount(codes_tr, minlength=len(classes))
    probs = counts / counts.sum()
    out["results"]["majority"] = [score(lambda s: decode(task, np.tile(probs, (len(data[s][1]), 1)), classes))]

    def logistic(features) -> list[dict]:
        if len(np.unique(codes_tr)) < 2:
            return [score(lambda s: decode(task, np.tile(probs, (len(data[s][1]), 1)), classes))]
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, C=1.0))
        model.fit(features(Xtr), codes_tr)
        full = lambda s: _full_probs(model, features(data[s][0]), len(classes))  # noqa: E731
        return [score(lambda s: decode(task, full(s), classes))]

    if name != "delay":
        out["results"]["hyperparams"] = logistic(lambda X: X["_hyper"])
    out["results"]["weight-stats"] = logistic(lambda X: weight_stats(X, task.extras))
    # deepsets
    def tensors(X, y):
        extras = torch.as_tensor(hyper_features(X, task.extras) if task.extras else np.zeros((len(y), 0))).float()
        return unit_features(X), extras, class_codes(task, y, classes)

    train = tensors(Xtr, ytr)
    runs = []
    for seed in seeds:
        probs_eval = fit_deepsets(train, [tensors(*data[s]) for s in evals], len(classes), seed)
        runs.append({s: evaluator.eval(data[s][1], decode(task, p, classes)) for s, p in zip(evals, probs_eval)})
    out["results"]["deepsets"] = runs
    return out


def _full_probs(model, features: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities over every class index (classes absent from training get 0)."""
    probs = np.zeros((len(features), n_classes))
    probs[:, model.classes_] = model.predict_proba(features)
    return probs


def summary(runs: list[dict], split: str, metric: str) -> str:
    values = np.array([r[split][metric] for r in runs], dtype=float)
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.nanmean(values):.3f} ± {np.nanstd(values):.3f}"


def markdown(label: str, results: dict, seeds: list[int]) -> str:
    lines = [f"**{label}**", "", "| task | n train / val / test | metric | majority | hyperparams | weight-stats + "
             f"logistic | DeepSets ({len(seeds)} seeds) |", "|---|---|---|---|---|---|---|"]
    for name, res in results.items():
        if "skipped" in res:
            lines.append(f"| {name} | - | - | {res['skipped']} | - | - | - |")
            continue
        n = " / ".join(str(res["n"].get(s, 0)) for s in ("train", "validation", "test"))
        for metric in TASKS[name].metrics:
            cells = [summary(res["results"][b], "test", metric) if b in res["results"] else "n/a"
                     for b in ("majority", "hyperparams", "weight-stats", "deepsets")]
            lines.append(f"| {name} | {n} | test {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=None, help="a zoo folder or Hub dataset (default: the embedded sample)")
    parser.add_argument("--seeds", type=int, default=5, help="DeepSets seeds (default 5)")
    parser.add_argument("--json", type=Path, default=None, help="write every number here")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    zoo = rnnzoo.load(source=args.source)
    seeds = list(range(args.seeds))
    initial = None
    if zoo.metadata["checkpoint_steps"].isna().any() if "checkpoint_steps" in zoo.metadata else True:
        from generation.train import init_population  # the generator's own draw of each seed's initial weights

        initial = init_population(zoo.metadata["seed"].astype(int).tolist())
    started = time.time()
    results = {name: run_task(zoo, name, seeds, initial if name == "learnability" else None) for name in TASKS}
    label = f"{args.source or 'embedded sample'} ({len(zoo)} networks)"
    print(markdown(label, results, seeds))
    print(f"\n({time.time() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps({"source": label, "seeds": seeds, "results": results}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
