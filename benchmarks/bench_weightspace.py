"""Baselines of the weight-space benchmark (rnnzoo.bench), run for real on a zoo, scored on its test split.

    python benchmarks/bench_weightspace.py                       # the embedded sample (72 networks)
    python benchmarks/bench_weightspace.py --source DIR --json out.json --workers 2

Baselines, trained on the train split; the torch ones keep the check with the lowest validation loss (validation is
reported beside test in --json). Inputs are the task's weights (final, or initial for learnability, which also
gives every learned baseline its lr and delay_ms):
  majority          the most frequent training class (learnability: the training rate of 'learned' as the score)
  hyperparams       logistic regression on (delay_ms, log10 lr) (not for the delay task, whose target is delay_ms)
  weight-stats      logistic regression on hand-made statistics of the weights: the 10 largest |eigenvalues| of
                    W_rec, the |imaginary part| of the 5 largest, the fraction of |eig| > 1, Frobenius norms, the
                    norms of W_rec's symmetric and antisymmetric parts, trace, entry mean/std, norms of the others
  spectral          logistic regression on eigenvalue features (|lambda|, Re, |Im| of the 8 largest, and summaries)
                    of W_rec and of the step map's Jacobian at the fixed points that Newton's method finds from the
                    states each network settles in after a cue on either channel and after silence, with their
                    residuals (rnnzoo.encoders.spectral_features)
  deepsets          a hidden-unit-permutation-invariant network: per-unit features (W_rec row and column statistics,
                    the self-weight, W_in row, biases, W_out column) -> shared MLP -> mean and max pool -> MLP head
  dws               a Deep Weight Space network for RNNs (rnnzoo.encoders.DWSNet): two layers equivariant to
                    W_rec -> P W_rec P^T with W_in rows, b_in, b_rec and W_out columns permuted alike (every linear
                    map the symmetry allows), ReLU, invariant pooling, MLP head; width 16, Adam, minibatches of 32
  dws-products      the same with a channel-wise matrix product in each layer (4 channels), which reaches powers of
                    W_rec and so its spectrum; run on the mechanism task only (it doubles the cost)
  probing           the functionalist encoder: every network run (rnnzoo.dynamics.simulate, noiseless, from r = 0)
                    on 7 fixed probes of 1 s (a cue on either channel then silence, silence, 4 fixed random pulse
                    trains); its outputs, log speed and mean rate every 20 ms and how its motion turns and recurs
                    over each probe's second half (rnnzoo.encoders.probe_features) -> MLP
  probing-logistic  logistic regression on the same probe features
The seeded baselines (deepsets, probing: --seeds, default 5; dws, dws-products: --dws-seeds, default 3) report
mean +- std over seeds. scikit-learn is needed for the linear baselines (`pip install -e ".[bench]"`). Zoos kept
without checkpoints get their initial weights from generation.train.init_population (the generator's own draw from
each seed). --workers N runs the tasks in N processes (each with --threads torch threads).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path
from typing import Callable, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

import rnnzoo
from rnnzoo.bench import TASKS, Evaluator, select, task_splits
from rnnzoo.dynamics import Weights
from rnnzoo.encoders import DWSNet, graph_of, in_chunks, probe_features, spectral_features

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


class ProbeMLP(torch.nn.Module):
    """The probing encoder's head: an MLP on the (standardised) probe features, extras joined at the input."""

    def __init__(self, n_features: int, n_extras: int, n_out: int, width: int = 64):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(n_features + n_extras, width), torch.nn.ReLU(),
                                       torch.nn.Linear(width, width), torch.nn.ReLU(), torch.nn.Linear(width, n_out))

    def forward(self, features: torch.Tensor, extras: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([features, extras], 1))


class Fit(NamedTuple):
    """How a torch baseline trains: Adam, `epochs` passes (full batch when batch_size is None), the validation
    loss checked every `check_every` epochs and the predictions of the best check kept."""

    epochs: int = 400
    check_every: int = 20
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int | None = None


DEEPSETS_FIT = Fit()
PROBE_FIT = Fit(epochs=300, check_every=10, lr=1e-3, weight_decay=1e-3)
DWS_FIT = Fit(epochs=40, check_every=2, lr=2e-3, weight_decay=1e-4, batch_size=32)
DWS_PRODUCTS = 4  # channels of the matrix-product term in each layer of "dws-products"


def train_classifier(make_model: Callable[[], torch.nn.Module], train: tuple, target: np.ndarray,
                     evals: list[tuple], seed: int, fit: Fit, history: list | None = None) -> list[np.ndarray]:
    """Train make_model() (seeded with `seed`) on train = (input tensors..., ) against class indices `target`, and
    return its class probabilities per eval set (each a tuple of input tensors then its targets) from the check
    with the lowest loss on evals[0] (the validation split when the zoo has one). `history`, when given, gets one
    (epoch, train accuracy, accuracy per eval set) per check."""
    torch.manual_seed(seed)
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=fit.lr, weight_decay=fit.weight_decay)
    target = torch.as_tensor(np.array(target))
    n = len(target)
    order = torch.Generator().manual_seed(seed)
    best, best_loss = None, float("inf")

    def logits(inputs: tuple) -> torch.Tensor:
        size = fit.batch_size or len(inputs[0])
        return torch.cat([model(*(x[lo:lo + size] for x in inputs)) for lo in range(0, len(inputs[0]), size)])

    def predict() -> list[np.ndarray]:
        with torch.no_grad():
            return [torch.softmax(logits(ev[:-1]), 1).numpy() for ev in evals]

    for epoch in range(1, fit.epochs + 1):
        batches = [torch.arange(n)] if fit.batch_size is None else torch.randperm(n, generator=order).split(
            fit.batch_size)
        for index in batches:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(*(x[index] for x in train)), target[index])
            loss.backward()
            opt.step()
        if epoch % fit.check_every == 0:
            with torch.no_grad():
                val = torch.nn.functional.cross_entropy(logits(evals[0][:-1]),
                                                        torch.as_tensor(np.array(evals[0][-1]))).item()
                if history is not None:
                    history.append((epoch, _accuracy(logits(train), target),
                                    *[_accuracy(logits(ev[:-1]), ev[-1]) for ev in evals]))
            if val < best_loss:
                best, best_loss = predict(), val
    return best if best is not None else predict()


def _accuracy(logits: torch.Tensor, target) -> float:
    return float((logits.argmax(1) == torch.as_tensor(np.array(target))).float().mean())


def standardiser(train: torch.Tensor, dims: tuple[int, ...]) -> Callable[[torch.Tensor], torch.Tensor]:
    """x -> (x - mean) / std with the training set's statistics over `dims` (per remaining channel)."""
    mu, sd = train.mean(dims), train.std(dims) + 1e-6
    return lambda x: (x - mu) / sd


def fit_deepsets(train, evals, n_classes: int, seed: int, fit: Fit = DEEPSETS_FIT) -> list[np.ndarray]:
    """One DeepSets model: train = (units [M, N, F], extras [M, E], y); evals alike."""
    (u, e, y) = train
    norm_u, norm_e = standardiser(u, (0, 1)), _extras_standardiser(e)
    prep = lambda s: (norm_u(s[0]), norm_e(s[1]), s[2])  # noqa: E731
    return train_classifier(lambda: DeepSets(u.shape[-1], e.shape[1], n_classes), prep(train)[:2], y,
                            [prep(s) for s in evals], seed, fit)


def fit_probing(train, evals, n_classes: int, seed: int, fit: Fit = PROBE_FIT) -> list[np.ndarray]:
    """One probing MLP: train = (probe features [M, F], extras [M, E], y); evals alike."""
    (f, e, y) = train
    norm_f, norm_e = standardiser(f, (0,)), _extras_standardiser(e)
    prep = lambda s: (norm_f(s[0]), norm_e(s[1]), s[2])  # noqa: E731
    return train_classifier(lambda: ProbeMLP(f.shape[1], e.shape[1], n_classes), prep(train)[:2], y,
                            [prep(s) for s in evals], seed, fit)


def fit_dws(train, evals, n_classes: int, seed: int, fit: Fit = DWS_FIT, products: int = 0,
            history: list | None = None) -> list[np.ndarray]:
    """One DWSNet: train = (edges [M, N, N, 1], nodes [M, N, 6], extras [M, E], y); evals alike. Edges are
    scaled by the training entries' std and nodes standardised per channel (affine maps per channel: they keep
    the equivariance)."""
    (edges, nodes, e, y) = train
    edge_sd = edges.std() + 1e-6
    norm_n, norm_e = standardiser(nodes, (0, 1)), _extras_standardiser(e)
    prep = lambda s: (s[0] / edge_sd, norm_n(s[1]), norm_e(s[2]), s[3])  # noqa: E731
    return train_classifier(lambda: DWSNet(e.shape[1], n_classes, products=products), prep(train)[:3], y,
                            [prep(s) for s in evals], seed, fit, history)


def _extras_standardiser(e: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    if not e.shape[1]:
        return lambda x: x
    return standardiser(e, (0,))


def class_codes(task, y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Each target's position in `classes` (the task's codes, or the zoo's delays): the models' output index."""
    return np.searchsorted(classes, y)


def decode(task, probs: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Predictions as Evaluator expects them: P(learned) for learnability, the mechanism's code or the delay in ms
    otherwise."""
    if task.name == "learnability":
        return probs[:, 1] if probs.shape[1] > 1 else np.full(len(probs), float(classes[0]))
    return classes[probs.argmax(1)]


def weights_of(X: dict[str, np.ndarray]) -> Weights:
    """The task's weight arrays as a rnnzoo Weights stack (float32)."""
    return Weights(**{name: torch.as_tensor(X[name]) for name in Weights.names()})


BASELINES = ("majority", "hyperparams", "weight-stats", "spectral", "deepsets", "dws", "dws-products", "probing",
             "probing-logistic")
LABELS = {"majority": "majority", "hyperparams": "hyperparams", "weight-stats": "weight-stats + logistic",
          "spectral": "spectral + logistic", "deepsets": "DeepSets", "dws": "DWS", "dws-products": "DWS + products",
          "probing": "probing (MLP)", "probing-logistic": "probing + logistic"}
SEEDED = ("deepsets", "dws", "dws-products", "probing")
# The product layers ask one question, whether W_rec's spectrum is what the plain equivariant layers miss on the
# mechanism task; they double DWS's cost, so they run there only.
ONLY_ON = {"dws-products": ("mechanism",)}


class TaskData(NamedTuple):
    """One task's splits on one zoo, with what every baseline needs to train and score."""

    task: object  # a rnnzoo.bench.BenchTask
    data: dict  # split -> (X, y), X holding the weights, extras, _hyper and _alpha
    classes: np.ndarray  # the task's codes, or the zoo's delays: the models' output indices map to these
    evals: list[str]  # the held-out splits present (validation, test)
    evaluator: Evaluator

    def codes(self, split: str) -> np.ndarray:
        return class_codes(self.task, self.data[split][1], self.classes)

    def extras(self, X: dict) -> torch.Tensor:
        """The task's hyperparameter inputs [M, E] (E = 0 for tasks without any)."""
        n = len(X["W_rec"])
        return torch.as_tensor(hyper_features(X, self.task.extras) if self.task.extras else np.zeros((n, 0))).float()

    def with_extras(self, features: Callable[[dict], np.ndarray]) -> Callable[[dict], np.ndarray]:
        """features, with the task's hyperparameter inputs appended where it has any."""
        if not self.task.extras:
            return features
        return lambda X: np.concatenate([features(X), hyper_features(X, self.task.extras)], 1)

    def score(self, predictions: Callable[[str], np.ndarray]) -> dict:
        return {s: self.evaluator.eval(self.data[s][1], predictions(s)) for s in self.evals}

    def constant(self, split: str) -> np.ndarray:
        """The majority prediction (for learnability, the training rate of 'learned') for every network."""
        counts = np.bincount(self.codes("train"), minlength=len(self.classes))
        return decode(self.task, np.tile(counts / counts.sum(), (len(self.data[split][1]), 1)), self.classes)


def task_data_of(zoo, name: str, initial=None) -> TaskData | None:
    """TaskData of one task, or None when the zoo has no train or no test networks for it."""
    task = TASKS[name]
    data = task_splits(zoo, name, initial=initial)
    for split, (X, _) in data.items():  # every task's networks carry their grid cell and alpha beside the weights
        meta = select(zoo, name, split).metadata
        X["_hyper"] = np.stack([meta["delay_ms"].to_numpy(float), np.log10(meta["lr"].to_numpy(float))], 1)
        X["_alpha"] = torch.as_tensor(meta["alpha"].to_numpy(float))
    if "train" not in data or "test" not in data:
        return None
    classes = np.array(task.codes) if task.codes else np.unique(data["train"][1])
    return TaskData(task, data, classes, [s for s in ("validation", "test") if s in data], Evaluator(name))


def logistic_runs(td: TaskData, features: Callable[[dict], np.ndarray]) -> list[dict]:
    """Standardised logistic regression (C = 1) on features(X), deterministic: one run."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(np.unique(td.codes("train"))) < 2:
        return [td.score(td.constant)]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, C=1.0))
    cache = {s: features(td.data[s][0]) for s in ("train", *td.evals)}
    model.fit(cache["train"], td.codes("train"))
    return [td.score(lambda s: decode(td.task, _full_probs(model, cache[s], len(td.classes)), td.classes))]


def seeded_runs(td: TaskData, fit_one: Callable, tensors: Callable[[dict], tuple], seeds: list[int]) -> list[dict]:
    """One run per seed of a torch baseline: fit_one((*tensors(X_train), codes), held-out alike, n_classes, seed)."""
    train = (*tensors(td.data["train"][0]), td.codes("train"))
    held = [(*tensors(td.data[s][0]), td.codes(s)) for s in td.evals]
    runs = []
    for seed in seeds:
        probs = fit_one(train, held, len(td.classes), seed)
        runs.append({s: td.evaluator.eval(td.data[s][1], decode(td.task, p, td.classes))
                     for s, p in zip(td.evals, probs)})
    return runs


def probes_of(X: dict) -> torch.Tensor:
    """The probe features of one split's networks, computed once (two baselines read them)."""
    if "_probe" not in X:
        X["_probe"] = in_chunks(probe_features, weights_of(X), X["_alpha"])
    return X["_probe"]


def runners(td: TaskData, seeds: list[int], dws_seeds: list[int]) -> dict[str, Callable[[], list[dict]]]:
    """Each baseline as a thunk returning its runs on td."""
    graph = lambda X: (*graph_of(X), td.extras(X))  # noqa: E731
    return {
        "majority": lambda: [td.score(td.constant)],
        "hyperparams": lambda: logistic_runs(td, lambda X: X["_hyper"]),
        "weight-stats": lambda: logistic_runs(td, lambda X: weight_stats(X, td.task.extras)),
        "spectral": lambda: logistic_runs(td, td.with_extras(
            lambda X: in_chunks(spectral_features, weights_of(X), X["_alpha"]).numpy())),
        "deepsets": lambda: seeded_runs(td, fit_deepsets, lambda X: (unit_features(X), td.extras(X)), seeds),
        "dws": lambda: seeded_runs(td, fit_dws, graph, dws_seeds),
        "dws-products": lambda: seeded_runs(td, partial(fit_dws, products=DWS_PRODUCTS), graph, dws_seeds),
        "probing": lambda: seeded_runs(td, fit_probing, lambda X: (probes_of(X), td.extras(X)), seeds),
        "probing-logistic": lambda: logistic_runs(td, td.with_extras(lambda X: probes_of(X).numpy())),
    }


def run_task(zoo, name: str, seeds: list[int], initial=None, baselines: tuple[str, ...] = BASELINES,
             dws_seeds: list[int] | None = None) -> dict:
    """Every baseline of `baselines` on one task: {"n": sizes per split, "results": {baseline: [run, ...]},
    "seconds": {baseline: wall time}}; each run maps split -> metric -> value."""
    td = task_data_of(zoo, name, initial)
    if td is None:
        return {"skipped": f"the zoo has no train or no test networks for {name}"}
    out = {"n": {s: int(len(td.data[s][1])) for s in td.data}, "results": {}, "seconds": {}}
    thunks = runners(td, seeds, seeds if dws_seeds is None else dws_seeds)
    for baseline in baselines:
        if baseline == "hyperparams" and name == "delay":  # its target is one of the two hyperparameters
            continue
        if name not in ONLY_ON.get(baseline, (name,)):
            continue
        started = time.time()
        out["results"][baseline] = thunks[baseline]()
        out["seconds"][baseline] = round(time.time() - started, 1)
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


def markdown(label: str, results: dict, seeds: list[int], dws_seeds: list[int]) -> str:
    """The test-split table: one column per baseline that ran, mean ± std over seeds for the seeded ones."""
    ran = [b for b in BASELINES if any(b in res.get("results", {}) for res in results.values())]
    n_seeds = {b: len(dws_seeds) if b.startswith("dws") else len(seeds) for b in SEEDED}
    header = [LABELS[b] + (f" ({n_seeds[b]} seeds)" if b in SEEDED else "") for b in ran]
    lines = [f"**{label}**", "", "| task | n train / val / test | metric | " + " | ".join(header) + " |",
             "|---|---|---|" + "---|" * len(ran)]
    for name, res in results.items():
        if "skipped" in res:
            lines.append(f"| {name} | - | - | {res['skipped']} |" + " - |" * (len(ran) - 1))
            continue
        n = " / ".join(str(res["n"].get(s, 0)) for s in ("train", "validation", "test"))
        for metric in TASKS[name].metrics:
            cells = [summary(res["results"][b], "test", metric) if b in res["results"] else "n/a" for b in ran]
            lines.append(f"| {name} | {n} | test {metric} | " + " | ".join(cells) + " |")
    seconds = {b: sum(res.get("seconds", {}).get(b, 0) for res in results.values()) for b in ran}
    lines += ["", "seconds, all tasks: " + ", ".join(f"{LABELS[b]} {seconds[b]:.0f}" for b in ran)]
    return "\n".join(lines)


def task_results(source: str | None, name: str, seeds: list[int], dws_seeds: list[int],
                 baselines: tuple[str, ...], threads: int) -> dict:
    """run_task on a freshly loaded zoo: one unit of work, so that tasks can run in separate processes."""
    torch.set_num_threads(threads)
    zoo = rnnzoo.load(source=source)
    initial = None
    kept = "checkpoint_steps" in zoo.metadata and not zoo.metadata["checkpoint_steps"].isna().any()
    if name == "learnability" and not kept:
        from generation.train import init_population  # the generator's own draw of each seed's initial weights

        initial = init_population(zoo.metadata["seed"].astype(int).tolist())
    return run_task(zoo, name, seeds, initial, baselines, dws_seeds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=None, help="a zoo folder or Hub dataset (default: the embedded sample)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds of DeepSets and probing (default 5)")
    parser.add_argument("--dws-seeds", type=int, default=3, help="seeds of the DWS networks (default 3)")
    parser.add_argument("--baselines", default=",".join(BASELINES),
                        help=f"comma-separated, of {', '.join(BASELINES)} (default: all)")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, of {', '.join(TASKS)}")
    parser.add_argument("--json", type=Path, default=None, help="write every number here")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--workers", type=int, default=1, help="tasks run in this many processes at once")
    args = parser.parse_args(argv)
    baselines, tasks = tuple(b for b in args.baselines.split(",") if b), [t for t in args.tasks.split(",") if t]
    unknown = sorted(set(baselines) - set(BASELINES)) + sorted(set(tasks) - set(TASKS))
    if unknown:
        parser.error(f"unknown baseline or task {unknown}; the baselines are {list(BASELINES)}, "
                     f"the tasks {list(TASKS)}")
    seeds, dws_seeds = list(range(args.seeds)), list(range(args.dws_seeds))
    started = time.time()
    work = [(args.source, name, seeds, dws_seeds, baselines, args.threads) for name in tasks]
    if args.workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = dict(zip(tasks, pool.map(task_results, *zip(*work))))
    else:
        results = {name: task_results(*job) for name, job in zip(tasks, work)}
    n_networks = len(rnnzoo.load(source=args.source))
    label = f"{args.source or 'embedded sample'} ({n_networks} networks)"
    print(markdown(label, results, seeds, dws_seeds))
    print(f"\n({time.time() - started:.0f} s wall, {args.workers} worker(s) of {args.threads} thread(s))")
    if args.json:
        args.json.write_text(json.dumps({"source": label, "seeds": seeds, "dws_seeds": dws_seeds,
                                         "wall_seconds": round(time.time() - started, 1), "workers": args.workers,
                                         "results": results}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
