"""What do the paper's labels cost next to training? (target: under 10% of training a network)

Measured side by side in one run, in CPU seconds per network (process time, so a loaded machine inflates the
wall clock but not the ratio), on one torch thread, for the embedded sample's networks of one delay:
- training: train_population on the same networks for --train-steps SGD steps, scaled to the protocol's minimum of
  1,000 steps (the cheapest network the paper trains, so the ratio is the least favourable one);
- single draw: the labelling as it was, one draw of the reference's test on a fixed sign convention (exact SVD axes,
  largest loading positive), for both cues and both relative signs, each on its T x T correlation matrix;
- modal label: rnnzoo.labels.mechanism_scores, LABEL_DRAWS draws of the test's randomness batched over draws and
  networks (the randomised PCA batched, the PSD from one 1-D FFT per draw);
- full labelling: rnnzoo.analysis.diagnose (the modal label + rnnzoo's dynamics diagnostics), what generation runs.

    python benchmarks/bench_label_draws.py [--delays 20 100 200] [--train-steps 30]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generation.numerics import pin_cpu_numerics  # noqa: E402  (imports no torch)

pin_cpu_numerics(strict=False)  # before torch starts, as generation/run.py does: the kernels generation uses

import numpy as np  # noqa: E402
import torch  # noqa: E402

import rnnzoo  # noqa: E402
from generation.train import train_population  # noqa: E402
from rnnzoo.analysis.classify import diagnose  # noqa: E402
from rnnzoo.analysis.threads import one_thread  # noqa: E402
from rnnzoo.labels import LABEL_DRAWS, PAPER_CUE, PSD_RADIUS, mechanism_scores, paper_psd_run  # noqa: E402

PROTOCOL_MIN_STEPS = 1000  # every paper network trains at least max(1000, 30 / lr) steps


def single_draw_labels(weights, task, alpha, seeds) -> np.ndarray:
    """The previous labelling's work: one draw per cue, exact principal axes with a fixed sign, four T x T PSDs."""
    ratios = []
    for cue in (PAPER_CUE, 1 - PAPER_CUE):
        _, rates = paper_psd_run(weights, task, alpha, seeds, cue=cue)
        x = rates.to(torch.float64)
        _, _, vh = torch.linalg.svd(x - x.mean(dim=1, keepdim=True), full_matrices=False)
        axes = vh[:, :2, :]
        axes = axes * torch.sign(torch.gather(axes, -1, axes.abs().argmax(dim=-1, keepdim=True)))
        for flip in (1.0, -1.0):
            proj = x @ (axes * torch.tensor([1.0, flip], dtype=axes.dtype).view(1, 2, 1)).transpose(1, 2)
            centred = proj - proj.mean(dim=-1, keepdim=True)
            unit = centred / centred.norm(dim=-1, keepdim=True).clamp_min(1e-300)
            power = torch.fft.fftshift(torch.fft.fft2(unit @ unit.transpose(1, 2)), dim=(-2, -1)).abs() ** 2
            T = power.shape[-1]
            idx = torch.arange(T, dtype=torch.float64)
            dist = torch.sqrt((idx.view(-1, 1) - T // 2) ** 2 + (idx.view(1, -1) - T // 2) ** 2)
            ratios.append(((power * (dist <= PSD_RADIUS)).sum((-2, -1)) / power.sum((-2, -1))).numpy())
    return np.stack(ratios)


def cpu_seconds(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delays", type=float, nargs="+", default=[20.0, 100.0, 200.0])
    parser.add_argument("--train-steps", type=int, default=30, help="SGD steps timed (scaled to 1,000)")
    args = parser.parse_args()
    zoo = rnnzoo.load()
    print(f"embedded sample, 1 torch thread, LABEL_DRAWS = {LABEL_DRAWS}, load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs; CPU seconds per network")
    print(f"{'delay':>6} {'nets':>5} {'train 1000 steps':>17} {'single draw':>12} {'modal label':>12} "
          f"{'full labelling':>15} {'modal / train':>14} {'full / train':>13}")
    with one_thread():
        for delay in args.delays:
            part = zoo.filter(delay=delay)
            M = len(part)
            w, task = part.weights(), part[0].task()
            seeds = part.metadata["seed"].astype(int).tolist()
            lrs = part.metadata["lr"].astype(float).tolist()
            alpha = float(part.metadata["alpha"].iloc[0])
            train = cpu_seconds(lambda: train_population(seeds, lrs, [args.train_steps] * M, task, alpha))
            train *= PROTOCOL_MIN_STEPS / args.train_steps / M
            single = cpu_seconds(lambda: single_draw_labels(w, task, alpha, seeds)) / M
            modal = cpu_seconds(lambda: mechanism_scores(w, task, alpha, seeds)) / M
            outcomes = ["learned"] * M
            full = cpu_seconds(lambda: diagnose(w, task, alpha, seeds, outcomes=outcomes)) / M
            print(f"{delay:6g} {M:5d} {train:17.2f} {single:12.3f} {modal:12.3f} {full:15.3f} "
                  f"{modal / train:13.1%} {full / train:13.1%}")


if __name__ == "__main__":
    main()
