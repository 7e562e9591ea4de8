"""CORNN refit benchmark: rnnzoo's solver side by side with the published one, and against BPTT (arXiv 2311.10200).

compare (default): rnnzoo.cornn.fit_weights with its defaults and the published solver (schnitzer-lab/CORNN-public,
    `solve_corrn_admm`, run from a temporary copy: see published_cornn.py; set CORNN_PUBLIC to a checkout) on the
    same recordings of random teachers: alpha 0.1 and 0.5, with and without inputs, observation noise 0, 0.01 and
    0.02, all units and half of them observed, five teachers each. Weight correlation (observed block of W_rec),
    held-out free-running R^2 (against the clean rates), and the time ratio at equal precision (both float64,
    one thread) beside rnnzoo's float32 time.
sweep: one option at a time away from the defaults (outlier threshold, l2, self-connections, start), for the
    README's guidance table.
bptt, large, batch: CORNN versus BPTT with Adam on a zoo network; a 1,000-unit teacher; 100 zoo networks in one
    batched call.

    CORNN_PUBLIC=/path/to/CORNN-public python benchmarks/bench_refit.py [--parts compare,sweep] [--teachers 5]

Everything runs on one thread (numpy's BLAS too) for per-CPU-second comparisons.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # numpy's BLAS on one thread too (set before numpy loads it)

import argparse
import dataclasses
import itertools
import json
import math
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import published_cornn  # noqa: E402
import rnnzoo  # noqa: E402
from rnnzoo.cornn import fit_weights, r_squared, weight_correlation  # noqa: E402
from rnnzoo.dynamics import NOISE_STD, STREAM_ANALYSIS, Weights, simulate  # noqa: E402
from rnnzoo.refitting import HELD_OUT_EVERY, OBSERVATION_CLIP, refit_networks  # noqa: E402
from rnnzoo.simulation import run_task  # noqa: E402

warnings.simplefilter("ignore", RuntimeWarning)  # clipping and convergence notices; the table reports both

F64 = torch.float64
HORIZON_TAUS = 10  # free-running R^2 is scored over 10 time constants of each held-out trial


# ---------------------------------------------------------------------------------------------------------------
# compare and sweep: random teachers, both solvers on the same recordings
# ---------------------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Case:
    alpha: float
    inputs: bool
    noise: float
    observed: float

    def __str__(self) -> str:
        return (f"alpha {self.alpha}, {'inputs' if self.inputs else 'no inputs'}, noise {self.noise}, "
                f"{'all' if self.observed == 1 else f'{self.observed:.0%}'} observed")


def teacher(n_units: int, seed: int, inputs: bool, gain: float = 1.5) -> Weights:
    """A random leaky tanh RNN (gain 1.5: chaotic), no self-connections (the paper's benchmarks), a bias."""
    g = torch.Generator().manual_seed(seed)
    N = n_units
    W = gain * torch.randn(N, N, generator=g, dtype=F64) / math.sqrt(N)
    W.fill_diagonal_(0.0)
    W_in = torch.randn(1, N, 2, generator=g, dtype=F64) * float(inputs)
    return Weights(W_in=W_in, b_in=torch.zeros(1, N, dtype=F64), W_rec=W[None],
                   b_rec=0.1 * torch.randn(1, N, generator=g, dtype=F64), W_out=torch.zeros(1, 1, N, dtype=F64),
                   b_out=torch.zeros(1, 1, dtype=F64))


@dataclasses.dataclass
class Recording:
    train: torch.Tensor  # [B, T, n] observed (noisy) rates
    test: torch.Tensor  # held-out trials, observed (noisy)
    test_clean: torch.Tensor  # the same without observation noise
    u_train: torch.Tensor | None
    u_test: torch.Tensor
    truth: torch.Tensor  # [n, n] W_rec on the observed units


def recording(case: Case, seed: int, n_units: int, trials: int, steps: int) -> Recording:
    """Teacher `seed` run from random r[0] on `trials` trials (sparse input pulses if any), observed in part, with
    Gaussian observation noise; every 5th trial held out."""
    w = teacher(n_units, seed, case.inputs)
    g = torch.Generator().manual_seed(seed + 1000)
    u = (torch.rand(trials, steps, 2, generator=g, dtype=F64) < 0.05).to(F64) * float(case.inputs)
    with torch.no_grad():
        _, r = simulate(w, u, case.alpha, r0=torch.tanh(torch.randn(1, trials, n_units, generator=g, dtype=F64)))
    obs = torch.sort(torch.randperm(n_units, generator=g)[: max(1, round(case.observed * n_units))]).values
    clean = r[0][..., obs]
    noisy = clean
    if case.noise:
        noisy = (clean + case.noise * torch.randn(clean.shape, generator=g, dtype=F64)).clamp(-0.9999, 0.9999)
    held = torch.arange(trials) % HELD_OUT_EVERY == HELD_OUT_EVERY - 1
    return Recording(noisy[~held], noisy[held], clean[held], u[~held] if case.inputs else None, u[held],
                     w.W_rec[0][obs][:, obs])


def free_r2(w: Weights, rec: Recording, alpha: float) -> float:
    """Held-out free-running R^2: the fit run from each held-out trial's recorded r[0], scored on the clean rates
    over HORIZON_TAUS time constants (round(HORIZON_TAUS / alpha) steps): the teachers are chaotic, so any model
    error, and the unobserved units, decorrelate longer runs whatever the solver."""
    steps = min(rec.test.shape[1], round(HORIZON_TAUS / alpha) + 1)
    with torch.no_grad():
        _, free = simulate(w.to(dtype=F64), rec.u_test[:, :steps], alpha, r0=rec.test[:, 0].unsqueeze(0))
    return float(r_squared(free[:, :, 1:], rec.test_clean[:, 1:steps].unsqueeze(0))[0])


def with_two_inputs(w: Weights) -> Weights:
    """Fits made without inputs get zero input weights, so that the held-out run can take the (zero) inputs."""
    if w.n_inputs == 2:
        return w
    return dataclasses.replace(w, W_in=torch.zeros(w.n_networks, w.n_units, 2, dtype=w.dtype))


def run_rnnzoo(rec: Recording, alpha: float, dtype: torch.dtype, **options) -> dict:
    start = time.perf_counter()
    w, info = fit_weights(rec.train, rec.u_train, alpha, dtype=dtype, **options)
    seconds = time.perf_counter() - start
    w = with_two_inputs(w)
    return {"corr": float(weight_correlation(w.W_rec, rec.truth[None])[0]), "r2": free_r2(w, rec, alpha),
            "seconds": seconds, "iterations": info.iterations[0], "converged": info.converged[0], "l2": info.l2[0]}


def run_published(solver, rec: Recording, alpha: float, **options) -> dict:
    """The published solver on the same transitions; a column of ones joins the inputs so that it fits the bias."""
    n = rec.train.shape[-1]
    r_in = rec.train[:, :-1].reshape(-1, n).numpy()
    r_out = rec.train[:, 1:].reshape(-1, n).numpy()
    ones = np.ones((r_in.shape[0], 1))
    u_in = ones if rec.u_train is None else np.c_[rec.u_train[:, :-1].reshape(-1, 2).numpy(), ones]
    start = time.perf_counter()
    chi = solver.solve_corrn_admm(r_in, r_out, u_in=u_in, alph=alpha, **options)
    seconds = time.perf_counter() - start
    chi = torch.as_tensor(chi)
    W_in = chi[n:n + 2].T if rec.u_train is not None else torch.zeros(n, 2, dtype=F64)
    w = Weights(W_in=W_in[None].contiguous(), b_in=torch.zeros(1, n, dtype=F64), W_rec=chi[:n].T[None].contiguous(),
                b_rec=chi[-1][None].contiguous(), W_out=torch.zeros(1, 1, n, dtype=F64),
                b_out=torch.zeros(1, 1, dtype=F64))
    return {"corr": float(weight_correlation(w.W_rec, rec.truth[None])[0]), "r2": free_r2(w, rec, alpha),
            "seconds": seconds, "iterations": options.get("num_iters", 30)}


CASES = [Case(a, i, n, o) for a, i, n, o in itertools.product((0.1, 0.5), (True, False), (0.0, 0.01, 0.02), (1.0, 0.5))]


def compare(solver, teachers: int, n_units: int, trials: int, steps: int, options: dict | None = None) -> list[dict]:
    """Both solvers on every case; one printed row per case (means over teachers, worst per-teacher difference)."""
    print(f"[compare] {n_units}-unit random teachers (gain 1.5, no self-connections, bias), {trials} trials x "
          f"{steps} steps ({trials * (HELD_OUT_EVERY - 1) // HELD_OUT_EVERY} fitted, the rest held out), "
          f"{teachers} teachers per case; rnnzoo {options or 'defaults'} vs the published defaults")
    head = ("| case | weight corr, published -> rnnzoo | free-running R^2, published -> rnnzoo | worst teacher "
            "(corr, R^2 diff) | rnnzoo iterations | time f64 / published | time f32 / published |")
    print(head)
    print("|" + "---|" * 7)
    rows = []
    for case in CASES:
        pub, ours, ours32 = [], [], []
        for t in range(teachers):
            rec = recording(case, t, n_units, trials, steps)
            if solver is not None:
                pub.append(run_published(solver, rec, case.alpha))
            ours.append(run_rnnzoo(rec, case.alpha, F64, **(options or {})))
            ours32.append(run_rnnzoo(rec, case.alpha, torch.float32, **(options or {})))
        mean = lambda rows_, key: statistics.fmean(r[key] for r in rows_)  # noqa: E731
        row = {"case": str(case), "ours_corr": mean(ours, "corr"), "ours_r2": mean(ours, "r2"),
               "ours32_corr": mean(ours32, "corr"), "ours32_r2": mean(ours32, "r2"),
               "iterations": [r["iterations"] for r in ours], "unconverged": sum(not r["converged"] for r in ours),
               "ours_s": mean(ours, "seconds"), "ours32_s": mean(ours32, "seconds")}
        if pub:
            row.update(pub_corr=mean(pub, "corr"), pub_r2=mean(pub, "r2"), pub_s=mean(pub, "seconds"),
                       worst_corr=min(o["corr"] - p["corr"] for o, p in zip(ours, pub)),
                       worst_r2=min(o["r2"] - p["r2"] for o, p in zip(ours, pub)))
            unconverged = f" ({row['unconverged']} unconverged)" if row["unconverged"] else ""
            print(f"| {case} | {row['pub_corr']:.3f} -> {row['ours_corr']:.3f} | {row['pub_r2']:.4f} -> "
                  f"{row['ours_r2']:.4f} | {row['worst_corr']:+.3f}, {row['worst_r2']:+.4f} | "
                  f"{min(row['iterations'])}-{max(row['iterations'])}{unconverged} | "
                  f"{row['ours_s'] / row['pub_s']:.2f} | {row['ours32_s'] / row['pub_s']:.2f} |", flush=True)
        else:
            print(f"| {case} | - -> {row['ours_corr']:.3f} | - -> {row['ours_r2']:.4f} | - | "
                  f"{min(row['iterations'])}-{max(row['iterations'])} | - | - |", flush=True)
        rows.append(row)
    if rows and "pub_s" in rows[0]:
        total = sum(r["pub_s"] for r in rows)
        print(f"    total fit time: published {total:.1f} s, rnnzoo float64 {sum(r['ours_s'] for r in rows):.1f} s "
              f"({sum(r['ours_s'] for r in rows) / total:.2f}x), float32 {sum(r['ours32_s'] for r in rows):.1f} s "
              f"({sum(r['ours32_s'] for r in rows) / total:.2f}x); worst per-teacher difference over all cases: "
              f"corr {min(r['worst_corr'] for r in rows):+.3f}, R^2 {min(r['worst_r2'] for r in rows):+.4f}")
    return rows


SWEEP = [("defaults", {}), ("outlier_threshold=None", {"outlier_threshold": None}),
         ("outlier_threshold=2", {"outlier_threshold": 2.0}), ("outlier_threshold=0.5", {"outlier_threshold": 0.5}),
         ("outlier_threshold=0.2", {"outlier_threshold": 0.2}), ("l2=1e-6", {"l2": 1e-6}), ("l2=1e-5", {"l2": 1e-5}),
         ("l2=1e-4", {"l2": 1e-4}), ("l2=1e-3", {"l2": 1e-3}), ("self_connections=True", {"self_connections": True}),
         ("self_connections=False", {"self_connections": False}), ("start='ridge'", {"start": "ridge"}),
         ("start='admm'", {"start": "admm"})]
SWEEP_CASES = [Case(a, True, n, 1.0) for a in (0.1, 0.5) for n in (0.0, 0.02)] + [Case(0.5, True, 0.0, 0.5)]


def sweep(teachers: int, n_units: int, trials: int, steps: int) -> None:
    """One option at a time away from the defaults: mean weight corr / free-running R^2 over teachers."""
    print(f"[sweep] rnnzoo options one at a time ({teachers} teachers per case, float32); cells: weight corr / "
          "held-out free-running R^2")
    print("| option | " + " | ".join(str(c) for c in SWEEP_CASES) + " |")
    print("|---|" + "---|" * len(SWEEP_CASES))
    recs = {c: [recording(c, t, n_units, trials, steps) for t in range(teachers)] for c in SWEEP_CASES}
    for name, options in SWEEP:
        cells = []
        for case in SWEEP_CASES:
            runs = [run_rnnzoo(rec, case.alpha, torch.float32, **options) for rec in recs[case]]
            cells.append(f"{statistics.fmean(r['corr'] for r in runs):.3f} / "
                         f"{statistics.fmean(r['r2'] for r in runs):.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


# ---------------------------------------------------------------------------------------------------------------
# bptt, large, batch: zoo networks and a large teacher
# ---------------------------------------------------------------------------------------------------------------
def open_zoo(path: str | None) -> tuple[rnnzoo.Zoo, str]:
    if path and Path(path).exists():
        return rnnzoo.load(path), path
    return rnnzoo.load(), "embedded sample zoo"


def zoo_recording(net: rnnzoo.Network, trials: int):
    """The refit report's data: `trials` task trials from the network's ANALYSIS stream; every 5th held out."""
    task = dataclasses.replace(net.task(), trials_per_class=trials // 2)
    sim = run_task(net.weights, task, float(net.info["alpha"]), [int(net.info["seed"])], stream=STREAM_ANALYSIS)
    held = torch.arange(sim.rates.shape[1]) % HELD_OUT_EVERY == HELD_OUT_EVERY - 1
    return sim.inputs[0], sim.rates[0], held


def zoo_free_r2(weights: Weights, u: torch.Tensor, rates: torch.Tensor, alpha: float) -> float:
    with torch.no_grad():
        _, free = simulate(weights, u, alpha, r0=rates[:, 0].unsqueeze(0))
    return float(r_squared(free[:, :, 1:], rates[:, 1:].unsqueeze(0))[0])


def bptt(u, rates, u_test, rates_test, alpha, target, budget_s, lr=3e-3, check_every=10, seed=0):
    """Adam on the free-running rates (from the recorded r[0]) until held-out R^2 >= target or the budget ends.
    Returns (seconds to target or None, best R^2, curve [(seconds, R^2)], steps)."""
    g = torch.Generator().manual_seed(seed)
    N, I = rates.shape[-1], u.shape[-1]
    params = {"W_rec": (torch.randn(1, N, N, generator=g) / math.sqrt(N)).requires_grad_(),
              "W_in": (torch.randn(1, N, I, generator=g) / math.sqrt(I)).requires_grad_(),
              "b_rec": torch.zeros(1, N, requires_grad=True)}
    fixed = {"b_in": torch.zeros(1, N), "W_out": torch.zeros(1, 1, N), "b_out": torch.zeros(1, 1)}
    opt = torch.optim.Adam(params.values(), lr=lr)
    curve, best, reached, step = [], -math.inf, None, 0
    start = time.perf_counter()
    while time.perf_counter() - start < budget_s:
        _, pred = simulate(Weights(**params, **fixed), u, alpha, r0=rates[:, 0].unsqueeze(0))
        loss = ((pred[0, :, 1:] - rates[:, 1:]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % check_every == 0:
            r2 = zoo_free_r2(Weights(**{k: v.detach() for k, v in params.items()}, **fixed), u_test, rates_test, alpha)
            elapsed = time.perf_counter() - start
            curve.append((elapsed, r2))
            best = max(best, r2)
            if r2 >= target:
                reached = elapsed
                break
    return reached, best, curve, step


def part_bptt(zoo, source, budget_s, trials, plot, lr, noise=0.0):
    net = zoo[0]
    alpha = float(net.info["alpha"])
    u, rates, held = zoo_recording(net, trials)
    if noise > 0:  # observation noise on every recorded rate (training and held-out alike)
        g = torch.Generator().manual_seed(11)
        rates = (rates + noise * torch.randn(rates.shape, generator=g)).clamp(-0.999, 0.999)
    u_tr, r_tr, u_te, r_te = u[~held], rates[~held], u[held], rates[held]
    fit_weights(r_tr[:8], u_tr[:8], alpha)  # warm-up
    start = time.perf_counter()
    fitted, info = fit_weights(r_tr, u_tr, alpha)
    cornn_s = time.perf_counter() - start
    cornn_r2 = zoo_free_r2(fitted, u_te, r_te, alpha)
    corr = weight_correlation(fitted.W_rec, net.weights.W_rec).item()
    print(f"[bptt] data: {net.info['id']} from {source} (N={rates.shape[-1]}), {r_tr.shape[0]} training trials x "
          f"{rates.shape[1]} steps, {r_te.shape[0]} held out, observation noise std {noise}")
    print(f"    CORNN: {cornn_s:.3f} s, {info.iterations} ADMM iterations, held-out free-running R^2 {cornn_r2:.5f}, "
          f"weight corr {corr:.4f}")
    reached, best, curve, steps = bptt(u_tr, r_tr, u_te, r_te, alpha, cornn_r2, budget_s, lr=lr)
    if reached is not None:
        print(f"    BPTT (Adam): reached R^2 {cornn_r2:.5f} after {reached:.1f} s ({steps} steps): "
              f"CORNN is {reached / cornn_s:.0f}x faster")
    else:
        print(f"    BPTT (Adam): best R^2 {best:.5f} after {budget_s:.0f} s ({steps} steps), never reached "
              f"{cornn_r2:.5f}: CORNN is more than {budget_s / cornn_s:.0f}x faster, at higher R^2")
    for bar in (0.9, 0.99):
        t_bar = next((t for t, r2 in curve if r2 >= bar), None)
        shown = f"{t_bar:.1f} s ({t_bar / cornn_s:.0f}x CORNN's time)" if t_bar else f"not within {budget_s:.0f} s"
        print(f"    BPTT time to R^2 {bar}: {shown}")
    print(f"    BPTT curve (s, R^2): {[(round(t, 1), round(r, 4)) for t, r in curve[9::10]]}")
    if plot and noise > 0:
        plot = plot.replace(".png", f"-noise{noise}.png")
    if plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot([t for t, _ in curve], [max(1 - r, 1e-6) for _, r in curve], label="BPTT (Adam)")
        ax.scatter([cornn_s], [max(1 - cornn_r2, 1e-6)], color="C3", zorder=3, label="CORNN")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("seconds (this CPU)")
        ax.set_ylabel("1 - held-out free-running R$^2$")
        ax.set_title(f"N={rates.shape[-1]}, observation noise {noise}")
        ax.legend()
        fig.tight_layout()
        fig.savefig(plot, dpi=120)
        print(f"    plot: {plot}")


def part_large(units, steps, trials):
    g = torch.Generator().manual_seed(0)
    N = units
    teacher = Weights(W_in=torch.randn(1, N, 2, generator=g), b_in=torch.zeros(1, N),
                      W_rec=1.5 * torch.randn(1, N, N, generator=g) / math.sqrt(N),
                      b_rec=0.1 * torch.randn(1, N, generator=g), W_out=torch.zeros(1, 1, N), b_out=torch.zeros(1, 1))
    u = (torch.rand(trials, steps // trials, 2, generator=g) < 0.05).float()
    with torch.no_grad():
        _, rates = simulate(teacher, u, 0.5, r0=torch.tanh(torch.randn(1, trials, N, generator=g)))
    params = N * (N + 2 + 1)
    print(f"[large] random teacher N={N} (gain 1.5), {trials} x {steps // trials} = {steps} time points, {params:,} "
          f"parameters (target: < 60 s, weight corr >= 0.95):")
    for label, options in (("default stopping rule", {}), ("30 ADMM iterations", {"iterations": 30, "tolerance": 0.0})):
        start = time.perf_counter()
        fitted, info = fit_weights(rates, u, 0.5, **options)
        seconds = time.perf_counter() - start
        corr = weight_correlation(fitted.W_rec, teacher.W_rec).item()
        print(f"    {label}: fit {seconds:.1f} s ({info.iterations[0]} iterations), weight corr {corr:.4f}, "
              f"clipped {info.clipped[0]}")


def part_batch(zoo, source, count, trials):
    reps = math.ceil(count / len(zoo))
    index = [i % len(zoo) for i in range(count)]
    weights = zoo.weights().select(index)
    meta = zoo.metadata.iloc[index]
    tasks = [zoo[i].task() for i in index]
    reports = refit_networks(weights, tasks, meta["alpha"].astype(float).tolist(), meta["seed"].astype(int).tolist(),
                             meta["id"].tolist(), trials=trials, mechanism=False)
    total = sum(r.fit_seconds for r in reports)
    corr = torch.tensor([r.weight_corr for r in reports])
    one = torch.tensor([r.one_step_r2 for r in reports])
    free = torch.tensor([r.free_running_r2 for r in reports])
    print(f"[batch] {count} zoo networks ({len(zoo)} from {source}, each repeated up to {reps}x), {trials} trials each, "
          f"one batched CORNN call: {total:.1f} s ({1000 * total / count:.0f} ms per network); weight corr "
          f"min {corr.min():.3f} median {corr.median():.3f}; one-step R^2 min {one.min():.5f}; free-running R^2 "
          f"min {free.min():.4f}")


# ---------------------------------------------------------------------------------------------------------------
# trained: the zoo's own networks as teachers, both solvers side by side
# ---------------------------------------------------------------------------------------------------------------
TRAINED_CONDITIONS = {"clean": (0.0, 64), "noise 0.02": (0.02, 64), "noise 0.05": (0.05, 64), "6 trials": (0.0, 6)}
SATURATED = 0.9999  # a recording counts as saturated when some clean recorded |r| exceeds this


def trained_recording(net: rnnzoo.Network, noise: float, trials: int) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """(inputs [B, T, 2], recorded rates [B, T, N] float64, saturated) of a sample network on `trials` trials of its
    task from its analysis stream (pre-activation noise as in training), with observation noise of std `noise`
    clamped into (-1, 1) as refit_networks does; every trial is fitted (only the weights are scored)."""
    task = dataclasses.replace(net.task(), trials_per_class=max(1, trials // 2))
    sim = run_task(net.weights, task, float(net.info["alpha"]), [int(net.info["seed"])], stream=STREAM_ANALYSIS)
    rates = sim.rates[0].to(F64)
    saturated = bool(rates.abs().max() > SATURATED)
    if noise > 0:
        g = torch.Generator().manual_seed(int(net.info["seed"]) * 1000 + 17)
        rates = (rates + noise * torch.randn(rates.shape, generator=g, dtype=F64)).clamp(
            -1 + OBSERVATION_CLIP, 1 - OBSERVATION_CLIP)
    return sim.inputs[0].to(F64), rates, saturated


def trained_published(solver, u: torch.Tensor, rates: torch.Tensor, alpha: float) -> tuple[torch.Tensor, float]:
    """(W_rec [N, N], seconds) of the published solver at its defaults on the same transitions (bias as an input)."""
    n = rates.shape[-1]
    r_in, r_out = rates[:, :-1].reshape(-1, n).numpy(), rates[:, 1:].reshape(-1, n).numpy()
    u_in = np.c_[u[:, :-1].reshape(-1, u.shape[-1]).numpy(), np.ones((r_in.shape[0], 1))]
    start = time.perf_counter()
    chi = solver.solve_corrn_admm(r_in, r_out, u_in=u_in, alph=alpha)
    return torch.as_tensor(chi[:n].T), time.perf_counter() - start


def trained(solver, limit: int | None, conditions: list[str]) -> list[dict]:
    """Every sample network refit by both solvers (interleaved, one thread) in each condition; per condition the
    mean weight correlation, the worst per-network difference, and the saturated subset on its own."""
    zoo = rnnzoo.load()
    nets = [zoo[i] for i in range(len(zoo) if limit is None else min(limit, len(zoo)))]
    print(f"[trained] {len(nets)} networks of the embedded sample as teachers (analysis stream, pre-activation noise "
          f"{NOISE_STD}); every trial fitted; rnnzoo defaults (float32) vs the published defaults (float64); "
          f"saturated: some clean |r| > {SATURATED}")
    print("| condition | networks | weight corr, published -> rnnzoo | worst network (rnnzoo - published) | "
          "below by > 0.01 | below by > 0.001 | unconverged | time rnnzoo / published |")
    print("|" + "---|" * 8)
    rows = []
    for name in conditions:
        noise, trials = TRAINED_CONDITIONS[name]
        per = []
        for net in nets:
            u, rates, saturated = trained_recording(net, noise, trials)
            alpha = float(net.info["alpha"])
            truth = net.weights.W_rec.to(F64)
            pub_w, pub_s = (trained_published(solver, u, rates, alpha) if solver is not None else (None, math.nan))
            start = time.perf_counter()
            ours, info = fit_weights(rates, u, alpha)
            ours_s = time.perf_counter() - start
            per.append({"id": str(net.info["id"]), "saturated": saturated,
                        "ours": float(weight_correlation(ours.W_rec, truth)[0]),
                        "pub": math.nan if pub_w is None else float(weight_correlation(pub_w[None], truth)[0]),
                        "converged": info.converged[0], "ours_s": ours_s, "pub_s": pub_s})
        for subset, members in (("all", per), ("saturated", [p for p in per if p["saturated"]]),
                                ("unsaturated", [p for p in per if not p["saturated"]])):
            if not members:
                continue
            row = trained_row(name, subset, members)
            rows.append(row)
    return rows


def trained_row(name: str, subset: str, members: list[dict]) -> dict:
    """One printed table row: means over `members`, the worst per-network difference and how many fall below."""
    diffs = [p["ours"] - p["pub"] for p in members]
    worst = min(range(len(members)), key=lambda k: diffs[k])
    row = {"condition": name, "subset": subset, "networks": len(members),
           "ours": statistics.fmean(p["ours"] for p in members), "pub": statistics.fmean(p["pub"] for p in members),
           "worst_diff": diffs[worst], "worst_id": members[worst]["id"],
           "below_0.01": sum(d < -0.01 for d in diffs), "below_0.001": sum(d < -0.001 for d in diffs),
           "unconverged": sum(not p["converged"] for p in members),
           "time_ratio": sum(p["ours_s"] for p in members) / sum(p["pub_s"] for p in members)}
    print(f"| {name}, {subset} | {row['networks']} | {row['pub']:.3f} -> {row['ours']:.3f} ({row['ours'] - row['pub']:+.3f}) | "
          f"{row['worst_diff']:+.4f} ({row['worst_id']}) | {row['below_0.01']} | {row['below_0.001']} | "
          f"{row['unconverged']} | {row['time_ratio']:.2f} |", flush=True)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="compare", help="comma-separated: compare, trained, sweep, bptt, large, batch")
    p.add_argument("--cornn-public", default=None,
                   help="a CORNN-public checkout (or its utils_admm.py); default: $CORNN_PUBLIC")
    p.add_argument("--options", default="{}", help="rnnzoo options for compare, as JSON (default: its defaults)")
    p.add_argument("--teachers", type=int, default=5, help="random teachers per compare case")
    p.add_argument("--sweep-teachers", type=int, default=3, help="random teachers per sweep case")
    p.add_argument("--teacher-units", type=int, default=100, help="units of the compare / sweep teachers")
    p.add_argument("--teacher-trials", type=int, default=50, help="trials per compare / sweep recording")
    p.add_argument("--teacher-steps", type=int, default=200, help="time steps per compare / sweep trial")
    p.add_argument("--zoo", default="/tmp/zoo-tiny", help="zoo folder for bptt / batch (falls back to the sample)")
    p.add_argument("--bptt-seconds", type=float, default=60.0, help="time budget of each BPTT baseline")
    p.add_argument("--noise", default="0,0.02", help="observation-noise levels of the CORNN-vs-BPTT comparisons")
    p.add_argument("--trials", type=int, default=256, help="task trials recorded per zoo network")
    p.add_argument("--units", type=int, default=1000, help="units of the large teacher")
    p.add_argument("--time-points", type=int, default=20000)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--plot", default="/tmp/bench_refit.png", help="BPTT-vs-CORNN plot ('' for none)")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate of the BPTT baseline")
    p.add_argument("--trained-networks", type=int, default=None,
                   help="trained: only the first this many sample networks (default: all 72)")
    p.add_argument("--trained-conditions", default=",".join(TRAINED_CONDITIONS),
                   help=f"trained: comma-separated, from {', '.join(TRAINED_CONDITIONS)}")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (numpy's BLAS: set OPENBLAS_NUM_THREADS; both default to 1 here)")
    args = p.parse_args(argv)
    parts = {v.strip() for v in args.parts.split(",") if v.strip()}
    unknown = parts - {"compare", "trained", "sweep", "bptt", "large", "batch"}
    if unknown:
        p.error(f"unknown parts {sorted(unknown)}; choose from compare, trained, sweep, bptt, large, batch")
    conditions = [v.strip() for v in args.trained_conditions.split(",") if v.strip()]
    if set(conditions) - set(TRAINED_CONDITIONS):
        p.error(f"unknown trained conditions {sorted(set(conditions) - set(TRAINED_CONDITIONS))}; choose from "
                f"{', '.join(TRAINED_CONDITIONS)}")
    torch.manual_seed(0)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, numpy {np.__version__}, {torch.get_num_threads()} thread(s), "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if "compare" in parts:
        solver, note = published_cornn.load(args.cornn_public)
        print(note)
        try:
            compare(solver, args.teachers, args.teacher_units, args.teacher_trials, args.teacher_steps,
                    json.loads(args.options))
        finally:
            published_cornn.cleanup(solver)
    if "trained" in parts:
        solver, note = published_cornn.load(args.cornn_public)
        print(note)
        try:
            trained(solver, args.trained_networks, conditions)
        finally:
            published_cornn.cleanup(solver)
    if "sweep" in parts:
        sweep(args.sweep_teachers, args.teacher_units, args.teacher_trials, args.teacher_steps)
    if parts & {"bptt", "batch"}:
        zoo, source = open_zoo(args.zoo)
        if "bptt" in parts:
            for noise in [float(v) for v in args.noise.split(",") if v.strip()]:
                part_bptt(zoo, source, args.bptt_seconds, args.trials, args.plot, args.lr, noise)
        if "batch" in parts:
            part_batch(zoo, source, args.batch, args.trials)
    if "large" in parts:
        part_large(args.units, args.time_points, 20)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
