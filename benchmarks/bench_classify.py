"""How long does rnnzoo.analysis take to classify many networks of N = 100? (target: 1,000 in under a minute)

Times `diagnose` (what Zoo.classify runs per task group: reference PSD + fluctuation, noiseless run, cycle fit,
slow-point search, Jacobian eigenvalues) on a stack of trained-like networks, next to the reference labels alone
(rnnzoo.labels.mechanism_scores) measured in the same run. The default measures 100 networks and extrapolates;
--networks 1000 measures the full target.

    python benchmarks/bench_classify.py [--networks 100] [--delay 100] [--source /tmp/zoo-tiny]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from rnnzoo.analysis.classify import diagnose
from rnnzoo.analysis.threads import one_thread
from rnnzoo.dynamics import Weights
from rnnzoo.labels import mechanism_scores
from rnnzoo.task import Task


def population(n: int, source: str | None, seed: int = 0) -> Weights:
    """n networks of N = 100: a zoo's trained weights tiled with 1% jitter, else Xavier-like random weights."""
    g = torch.Generator().manual_seed(seed)
    if source:
        import rnnzoo

        base = rnnzoo.load(source).weights()
        idx = torch.arange(n) % base.n_networks
        tiled = base.select(idx)
        return Weights(**{k: v * (1 + 0.01 * torch.randn(v.shape, generator=g)) for k, v in tiled.tensors().items()})
    N = 100
    return Weights(W_in=torch.randn(n, N, 2, generator=g) * 0.5, b_in=torch.zeros(n, N),
                   W_rec=torch.randn(n, N, N, generator=g) * 1.5 / N**0.5, b_rec=torch.zeros(n, N),
                   W_out=torch.randn(n, 2, N, generator=g) * 0.3, b_out=torch.zeros(n, 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=100)
    parser.add_argument("--delay", type=float, default=100.0, help="delay in ms (trial length 16 + delay/5 steps)")
    parser.add_argument("--source", default=None, help="a zoo folder whose weights to tile (default: random)")
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    task = Task(delay_ms=args.delay)
    weights = population(args.networks, args.source)
    seeds = list(range(args.networks))
    outcomes = ["learned"] * args.networks

    start = time.perf_counter()
    with one_thread():  # the same thread setting as classify, so the ratio compares work, not threading
        for s in range(0, args.networks, args.chunk):
            part = list(range(s, min(args.networks, s + args.chunk)))
            mechanism_scores(weights.select(part), task, 0.5, [seeds[i] for i in part])
    reference = time.perf_counter() - start

    start = time.perf_counter()
    frames = []
    for s in range(0, args.networks, args.chunk):
        part = list(range(s, min(args.networks, s + args.chunk)))
        frame, _ = diagnose(weights.select(part), task, 0.5, [seeds[i] for i in part],
                            outcomes=[outcomes[i] for i in part])
        frames.append(frame)
    full = time.perf_counter() - start

    per_1000 = full / args.networks * 1000
    print(f"{args.networks} networks, N = 100, delay {args.delay:g} ms (trial {task.n_steps} steps), "
          f"classify on 1 torch thread, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"reference labels only (PSD + fluctuation): {reference:7.2f} s")
    print(f"classify (reference + dynamics diagnostics): {full:7.2f} s  = {full / reference:.1f}x the reference")
    print(f"extrapolated to 1,000 networks: {per_1000:6.1f} s  ({'under' if per_1000 < 60 else 'OVER'} the 60 s target)")
    import pandas as pd

    print(pd.concat(frames)["regime"].value_counts().to_string())


if __name__ == "__main__":
    main()
