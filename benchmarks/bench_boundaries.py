"""Boundary estimators on synthetic tables with a known exponent: rnnzoo's likelihood fit (rnnzoo.boundaries)
beside the reference's onset estimator (rnnzoo.phases.reference_counts, the settings of Figure4's scripts), on the
same tables.

Each replicate draws a networks table from lr_c(T) = 0.13 (T / 200)^exponent: every network of cell (T, lr) fails
with probability sigmoid((log lr - log lr_c(T)) / width), each cell holds a uniform 20..100 seeds (--seeds), a
share of the cells is missing (--missing), and --seed-sd gives every seed one boundary offset shared by all its
cells. Printed per estimator: mean estimate, bias, its spread over replicates (the true standard error), the mean
standard error it reports, and how often its stated interval covers the truth (with the binomial standard error
of that coverage). The reference's interval is its exponent +- z * its curve_fit stderr.

    python benchmarks/bench_boundaries.py                       # no post, no-learning boundary, T^-2.7
    python benchmarks/bench_boundaries.py --boundary slow_point --exponent -4.05 --lr-at-200 0.05 --ceiling 0.7
    python benchmarks/bench_boundaries.py --protocol post --seeds 20 20 --lrs post
    python benchmarks/bench_boundaries.py --seed-sd 0.2 --interval bootstrap --replicates 100
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse
import json
import math
import time

import numpy as np
from scipy.stats import norm

from rnnzoo.boundaries import NOPOST_LRS, boundary_likelihood, cell_counts, fit_counts, synthetic_networks
from rnnzoo.phases import reference_counts

LR_GRIDS = {"nopost": NOPOST_LRS, "post": tuple(float(x) for x in np.logspace(-1, -3, 15))}


def replicate(rng: np.random.Generator, args) -> dict:
    net = synthetic_networks(rng, exponent=args.exponent, lr_at_200=args.lr_at_200, width=args.width,
                             lrs=LR_GRIDS[args.lrs], seeds=tuple(args.seeds), missing=args.missing,
                             seed_sd=args.seed_sd, boundary=args.boundary, ceiling=args.ceiling)
    delays, lrs, k, n = cell_counts(net, boundary=args.boundary)
    out = {}
    t0 = time.perf_counter()
    if args.interval == "bootstrap":
        fit = boundary_likelihood(net, boundary=args.boundary, interval="bootstrap", n_boot=args.n_boot,
                                  seed=int(rng.integers(2**31)), include_synthetic=True, per_delay=False)
    else:
        D, L = np.meshgrid(delays, lrs, indexing="ij")
        fit = fit_counts(D.ravel(), L.ravel(), k.ravel(), n.ravel(), boundary=args.boundary,
                         interval=args.interval, level=args.level, per_delay=False)
    out["likelihood"] = (fit.exponent, fit.stderr, fit.lo, fit.hi, time.perf_counter() - t0)
    t0 = time.perf_counter()
    ref = reference_counts(delays, lrs, k, n, boundary=args.boundary, protocol=args.protocol)["fit"]
    z = norm.ppf(0.5 + args.level / 2)
    if ref is not None:
        out["reference"] = (ref["exponent"], ref["stderr"], ref["exponent"] - z * ref["stderr"],
                            ref["exponent"] + z * ref["stderr"], time.perf_counter() - t0)
    return out


def summarise(rows: list[tuple], truth: float, level: float) -> dict:
    est, se, lo, hi, sec = (np.array(c, float) for c in zip(*rows))
    covered = (lo <= truth) & (truth <= hi)
    cov = float(covered.mean())
    return {"n": len(est), "mean": float(est.mean()), "bias": float(est.mean() - truth),
            "bias_se": float(est.std(ddof=1) / math.sqrt(len(est))), "sd": float(est.std(ddof=1)),
            "rmse": float(np.sqrt(np.mean((est - truth) ** 2))), "mean_reported_se": float(np.nanmean(se)),
            "coverage": cov, "coverage_se": math.sqrt(level * (1 - level) / len(est)), "nominal": level,
            "seconds_per_fit": float(sec.mean())}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--boundary", choices=("no_learning", "slow_point"), default="no_learning")
    parser.add_argument("--protocol", choices=("nopost", "post"), default="nopost",
                        help="the reference script whose settings the onset estimator uses")
    parser.add_argument("--lrs", choices=tuple(LR_GRIDS), default="nopost", help="the paper's learning-rate grid")
    parser.add_argument("--exponent", type=float, default=-2.7)
    parser.add_argument("--lr-at-200", type=float, default=0.13)
    parser.add_argument("--width", type=float, default=0.3, help="logistic scale of the boundary in log lr")
    parser.add_argument("--ceiling", type=float, default=1.0)
    parser.add_argument("--seeds", type=int, nargs=2, default=(20, 100), metavar=("MIN", "MAX"))
    parser.add_argument("--missing", type=float, default=0.2, help="share of (delay, lr) cells left out")
    parser.add_argument("--seed-sd", type=float, default=0.0, help="per-seed boundary offset shared by its cells")
    parser.add_argument("--interval", choices=("profile", "wald", "bootstrap"), default="profile")
    parser.add_argument("--n-boot", type=int, default=100)
    parser.add_argument("--level", type=float, default=0.95)
    parser.add_argument("--json", help="write the summary here too")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    rows: dict[str, list] = {"likelihood": [], "reference": []}
    start = time.perf_counter()
    for _ in range(args.replicates):
        for name, value in replicate(rng, args).items():
            rows[name].append(value)
    summary = {name: summarise(r, args.exponent, args.level) for name, r in rows.items() if r}
    settings = {k: v for k, v in vars(args).items() if k != "json"}
    print(f"truth T^{args.exponent}, {args.replicates} synthetic tables ({time.perf_counter() - start:.0f} s): "
          + json.dumps(settings))
    print(f"{'estimator':<12}{'n':>5}{'mean':>9}{'bias':>9}{'+-':>7}{'sd':>8}{'rmse':>8}{'rep. se':>9}"
          f"{'coverage':>10}{'+-':>7}{'s/fit':>8}")
    for name, s in summary.items():
        print(f"{name:<12}{s['n']:>5}{s['mean']:>9.3f}{s['bias']:>9.3f}{s['bias_se']:>7.3f}{s['sd']:>8.3f}"
              f"{s['rmse']:>8.3f}{s['mean_reported_se']:>9.3f}{s['coverage']:>10.3f}{s['coverage_se']:>7.3f}"
              f"{s['seconds_per_fit']:>8.3f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"settings": settings, "summary": summary}, fh, indent=1)
    return summary


if __name__ == "__main__":
    main()
