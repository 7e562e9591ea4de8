"""What limits the Deep-Weight-Space baseline on the mechanism task, measured (benchmarks/bench_weightspace.py).

    python benchmarks/dws_account.py --source DIR --json out.json

Three measurements on the mechanism task's splits, one seed each:
  fit        accuracy on train, validation and test at every check of a DWS and a DWS + products training run:
             does it fail to fit, or fit and not generalise?
  data       test accuracy of DWS, spectral + logistic and hyperparams on the first 25%, 50% and 100% of the
             train split (by seed): would more networks help?
  spectrum   held-out R^2 of regressing a spectral quantity from the weights (the log spectral radius of W_rec and
             of the step map's Jacobian at the fixed point reached after a cue on channel 1, the inputs of the
             spectral baseline) with the DWS network's embedding, with and without the product layers: can the
             layers compute what separates the mechanisms?
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

import rnnzoo
from rnnzoo.encoders import TOP_EIGS, DWSNet, spectral_features

FRACTIONS = (0.25, 0.5, 1.0)
REGRESSION_EPOCHS = 30
FEATURES_PER_MATRIX = 3 * TOP_EIGS + 4  # rnnzoo.encoders.eigen_features


def bench_module():
    """benchmarks/bench_weightspace.py as a module (it is a script, not a package)."""
    path = Path(__file__).resolve().parent / "bench_weightspace.py"
    spec = importlib.util.spec_from_file_location("bench_weightspace", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fit_curves(bw, td) -> dict:
    """Accuracy per check (epoch, train, validation, test) of one DWS and one DWS + products run."""
    graph = lambda X: (*bw.graph_of(X), td.extras(X))  # noqa: E731
    train = (*graph(td.data["train"][0]), td.codes("train"))
    held = [(*graph(td.data[s][0]), td.codes(s)) for s in td.evals]
    out = {}
    for name, products in (("dws", 0), ("dws-products", bw.DWS_PRODUCTS)):
        history: list = []
        bw.fit_dws(train, held, len(td.classes), 0, products=products, history=history)
        out[name] = history
    return out


def data_curve(bw, td) -> dict:
    """Test accuracy against the share of training seeds kept (the first seeds of the train split)."""
    for X, _ in td.data.values():  # once per split, not once per fraction
        X.setdefault("_spectral", bw.in_chunks(bw.spectral_features, bw.weights_of(X), X["_alpha"]).numpy())
    X_all, y_all = td.data["train"]
    seed_order = np.unique(X_all["_seed"])
    out = {}
    for fraction in FRACTIONS:
        keep_seeds = seed_order[: max(1, int(round(fraction * len(seed_order))))]
        keep = np.isin(X_all["_seed"], keep_seeds)
        X = {k: (v[keep] if hasattr(v, "__len__") and len(v) == len(y_all) else v) for k, v in X_all.items()
             if k != "_probe"}
        part = td._replace(data={**td.data, "train": (X, y_all[keep])})
        graph = lambda X: (*bw.graph_of(X), part.extras(X))  # noqa: E731
        dws = bw.seeded_runs(part, bw.fit_dws, graph, [0])[0]["test"]["accuracy"]
        spectral = bw.logistic_runs(part, lambda X: X["_spectral"])
        hyper = bw.logistic_runs(part, lambda X: X["_hyper"])
        out[str(fraction)] = {"n_train": int(keep.sum()), "dws": dws, "spectral": spectral[0]["test"]["accuracy"],
                              "hyperparams": hyper[0]["test"]["accuracy"]}
    return out


def spectrum_regression(bw, td, seed: int = 0) -> dict:
    """Held-out R^2 of DWS regressors (plain, products) of two standardised log spectral radii."""
    def targets(X) -> torch.Tensor:
        feats = bw.in_chunks(spectral_features, bw.weights_of(X), X["_alpha"])
        cue1_fixed_point = 1 + 1  # blocks: W_rec, then the Jacobians after cue 0, cue 1, silence
        return torch.log(torch.stack([feats[:, 0], feats[:, cue1_fixed_point * FEATURES_PER_MATRIX]], 1))

    splits = ("train", *td.evals)
    graphs = {s: bw.graph_of(td.data[s][0]) for s in splits}
    ys = {s: targets(td.data[s][0]) for s in splits}
    mu, sd = ys["train"].mean(0), ys["train"].std(0)
    edge_sd = graphs["train"][0].std()
    norm_n = bw.standardiser(graphs["train"][1], (0, 1))
    inputs = {s: (graphs[s][0] / edge_sd, norm_n(graphs[s][1])) for s in splits}
    out = {}
    for name, products in (("dws", 0), ("dws-products", bw.DWS_PRODUCTS)):
        torch.manual_seed(seed)
        model = DWSNet(0, 2, products=products)
        opt = torch.optim.Adam(model.parameters(), lr=bw.DWS_FIT.lr)
        target = (ys["train"] - mu) / sd
        n = len(target)
        none = torch.zeros(n, 0)
        for _ in range(REGRESSION_EPOCHS):
            for index in torch.randperm(n).split(bw.DWS_FIT.batch_size):
                opt.zero_grad()
                pred = model(inputs["train"][0][index], inputs["train"][1][index], none[index])
                torch.nn.functional.mse_loss(pred, target[index]).backward()
                opt.step()
        with torch.no_grad():
            out[name] = {}
            for s in splits:
                pred = model(*inputs[s], torch.zeros(len(ys[s]), 0)) * sd + mu
                r2 = 1 - ((pred - ys[s]) ** 2).sum(0) / ((ys[s] - ys[s].mean(0)) ** 2).sum(0)
                out[name][s] = {"W_rec": float(r2[0]), "jacobian_cue1": float(r2[1])}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=None, help="a zoo folder or Hub dataset (default: the embedded sample)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--parts", default="fit,data,spectrum", help="comma-separated, of fit, data, spectrum")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    bw = bench_module()
    zoo = rnnzoo.load(source=args.source)
    td = bw.task_data_of(zoo, "mechanism")
    for split, (X, _) in td.data.items():
        X["_seed"] = bw.select(zoo, "mechanism", split).metadata["seed"].to_numpy()
    parts = {"fit": fit_curves, "data": data_curve, "spectrum": spectrum_regression}
    results, seconds = {}, {}
    for part in args.parts.split(","):
        started = time.time()
        results[part] = parts[part](bw, td)
        seconds[part] = round(time.time() - started, 1)
        print(part, json.dumps(results[part]), f"({seconds[part]} s)", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"source": args.source or "embedded sample", "results": results,
                                         "seconds": seconds}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
