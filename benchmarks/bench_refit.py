"""CORNN refit benchmark, measured side by side in one run (arXiv 2311.10200's claims, on this machine).

1. CORNN versus BPTT with Adam on the same recording of a zoo network: the time each needs to reach CORNN's
   held-out free-running R^2 (BPTT runs until it gets there or its time budget ends).
2. A 1,000-unit random teacher (gain 1.5), 20,000 time points: fit time and weight correlation, noiseless.
3. A batch of 100 zoo networks refitted in one batched call.

    python benchmarks/bench_refit.py [--zoo /tmp/zoo-tiny] [--bptt-seconds 90] [--units 1000] [--plot out.png]

Every simulation goes through rnnzoo.dynamics.simulate (BPTT backpropagates through it).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
import warnings
from pathlib import Path

import torch

import rnnzoo
from rnnzoo.dynamics import STREAM_ANALYSIS, Weights, simulate
from rnnzoo.cornn import HELD_OUT_EVERY, fit_weights, r_squared, refit_networks, weight_correlation
from rnnzoo.simulation import run_task

warnings.simplefilter("ignore", RuntimeWarning)  # clipping notices; counts are reported by the solver


def open_zoo(path: str | None) -> tuple[rnnzoo.Zoo, str]:
    if path and Path(path).exists():
        return rnnzoo.load(path), path
    return rnnzoo.load(), "embedded sample zoo"


def recording(net: rnnzoo.Network, trials: int):
    """The refit report's data: `trials` task trials from the network's ANALYSIS stream; every 5th held out."""
    task = dataclasses.replace(net.task(), trials_per_class=trials // 2)
    sim = run_task(net.weights, task, float(net.info["alpha"]), [int(net.info["seed"])], stream=STREAM_ANALYSIS)
    held = torch.arange(sim.rates.shape[1]) % HELD_OUT_EVERY == HELD_OUT_EVERY - 1
    return sim.inputs, sim.rates[0], held


def free_r2(weights: Weights, u: torch.Tensor, rates: torch.Tensor, alpha: float) -> float:
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
            r2 = free_r2(Weights(**{k: v.detach() for k, v in params.items()}, **fixed), u_test, rates_test, alpha)
            elapsed = time.perf_counter() - start
            curve.append((elapsed, r2))
            best = max(best, r2)
            if r2 >= target:
                reached = elapsed
                break
    return reached, best, curve, step


def part1(zoo, source, budget_s, trials, plot, lr, noise=0.0):
    net = zoo[0]
    alpha = float(net.info["alpha"])
    u, rates, held = recording(net, trials)
    if noise > 0:  # observation noise on every recorded rate (training and held-out alike)
        g = torch.Generator().manual_seed(11)
        rates = (rates + noise * torch.randn(rates.shape, generator=g)).clamp(-0.999, 0.999)
    u_tr, r_tr, u_te, r_te = u[~held], rates[~held], u[held], rates[held]
    fit_weights(r_tr[:8], u_tr[:8], alpha)  # warm-up
    start = time.perf_counter()
    fitted, info = fit_weights(r_tr, u_tr, alpha)
    cornn_s = time.perf_counter() - start
    cornn_r2 = free_r2(fitted, u_te, r_te, alpha)
    corr = weight_correlation(fitted.W_rec, net.weights.W_rec).item()
    print(f"[1] data: {net.info['id']} from {source} (N={rates.shape[-1]}), {r_tr.shape[0]} training trials x "
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


def part2(units, steps, trials):
    g = torch.Generator().manual_seed(0)
    N = units
    teacher = Weights(W_in=torch.randn(1, N, 2, generator=g), b_in=torch.zeros(1, N),
                      W_rec=1.5 * torch.randn(1, N, N, generator=g) / math.sqrt(N),
                      b_rec=0.1 * torch.randn(1, N, generator=g), W_out=torch.zeros(1, 1, N), b_out=torch.zeros(1, 1))
    u = (torch.rand(trials, steps // trials, 2, generator=g) < 0.05).float()
    with torch.no_grad():
        _, rates = simulate(teacher, u, 0.5, r0=torch.tanh(torch.randn(1, trials, N, generator=g)))
    params = N * (N + 2 + 1)
    print(f"[2] random teacher N={N} (gain 1.5), {trials} x {steps // trials} = {steps} time points, {params:,} "
          f"parameters (target: < 60 s, weight corr >= 0.95):")
    for label, tolerance in (("default stopping rule", None), ("all 30 ADMM iterations", 0.0)):
        start = time.perf_counter()
        fitted, info = fit_weights(rates, u, 0.5, **({} if tolerance is None else {"tolerance": tolerance}))
        seconds = time.perf_counter() - start
        corr = weight_correlation(fitted.W_rec, teacher.W_rec).item()
        print(f"    {label}: fit {seconds:.1f} s ({info.iterations} iterations), weight corr {corr:.4f}, "
              f"clipped {info.clipped[0]}")


def part3(zoo, source, count, trials):
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
    print(f"[3] {count} zoo networks ({len(zoo)} from {source}, each repeated up to {reps}x), {trials} trials each, "
          f"one batched CORNN call: {total:.1f} s ({1000 * total / count:.0f} ms per network); weight corr "
          f"min {corr.min():.3f} median {corr.median():.3f}; one-step R^2 min {one.min():.5f}; free-running R^2 "
          f"min {free.min():.4f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--zoo", default="/tmp/zoo-tiny", help="zoo folder (falls back to the embedded sample)")
    p.add_argument("--bptt-seconds", type=float, default=60.0, help="time budget of each BPTT baseline")
    p.add_argument("--noise", default="0,0.02", help="observation-noise levels of the CORNN-vs-BPTT comparisons")
    p.add_argument("--trials", type=int, default=256, help="task trials recorded per zoo network")
    p.add_argument("--units", type=int, default=1000)
    p.add_argument("--time-points", type=int, default=20000)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--plot", default="/tmp/bench_refit.png", help="BPTT-vs-CORNN plot ('' for none)")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate of the BPTT baseline")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1 is fastest on this 2-core CPU shared by several users; 0: torch's default)")
    p.add_argument("--skip", default="", help="comma-separated parts to skip (1,2,3)")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    zoo, source = open_zoo(args.zoo)
    skip = set(args.skip.split(","))
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    if "1" not in skip:
        for noise in [float(v) for v in args.noise.split(",") if v.strip()]:
            part1(zoo, source, args.bptt_seconds, args.trials, args.plot, args.lr, noise)
    if "2" not in skip:
        part2(args.units, args.time_points, 20)
    if "3" not in skip:
        part3(zoo, source, args.batch, args.trials)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
