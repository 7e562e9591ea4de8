"""Mechanism labels as the reference pipeline assigns them (arXiv 2502.17433; docs/science.md).

Training curves decide failed / unstable / learned; for learned networks, the PSD ratio of the extended
autonomous run decides limit cycle (< 0.5) or slow-point manifold. The output-fluctuation criterion of the
paper's earlier version is computed beside it. Both are batched over a stack of networks.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from rnnzoo.dynamics import STREAM_ANALYSIS, Weights, initial_and_noise, simulate, stream_generator
from rnnzoo.task import Task

MECHANISMS = ("failed", "cycle", "manifold", "unstable")  # index = the reference's class code 0..3
ALIASES = {
    "limit_cycle": "cycle",
    "limit-cycle": "cycle",
    "lc": "cycle",
    "slow_point": "manifold",
    "slow-point": "manifold",
    "slow_points": "manifold",
    "sp": "manifold",
    "sequence": "manifold",
    "slow_point_manifold": "manifold",
    "no_learning": "failed",
}
LEARN_THRESHOLD = 0.8  # accuracy and reliability must exceed this
STABILITY_FLOOR = 0.6  # steps below this after learning count as lapses
STABILITY_RATIO = 0.1  # lapses / non-lapses must stay under this
FINAL_FRACTION = 0.1  # "final" = the last 10% of training
PSD_RADIUS = 3  # low-frequency disc (inclusive) around the centre of the 2-D spectrum
PSD_THRESHOLD = 0.5  # PSD ratio below this: limit cycle
EXTENDED_TRIALS = 9  # the PSD test runs one trial followed by 8 trial lengths of silence
FLUCTUATION_TRIALS = 5  # the older criterion reads the last trial length of a 5-trial-length run
FLUCTUATION_THRESHOLD = 0.1


def canonical_mechanism(name: str) -> str:
    """The canonical mechanism name for `name` (aliases accepted), or a ValueError listing the valid names."""
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in MECHANISMS:
        raise ValueError(
            f"unknown mechanism {name!r}; use one of {list(MECHANISMS)} "
            f"(aliases: {', '.join(sorted(ALIASES))})"
        )
    return key


def training_outcome(accuracy: np.ndarray, reliability: np.ndarray) -> str:
    """'learned', 'unstable' or 'failed' from one network's per-step accuracy and reliability curves.

    Learned: the mean accuracy and reliability over the last 10% of steps both exceed 0.8, and after the first step
    where both exceed 0.8 the lapses (steps with accuracy < 0.6, plus steps with reliability < 0.6) number under 0.1
    of the steps above 0.6. A network that is not learned is unstable if it reached 0.8 and then lapsed that often,
    and failed otherwise (the reference's rule, including its treatment of networks that never reach 0.8).
    """
    acc, rel = np.asarray(accuracy, dtype=np.float64), np.asarray(reliability, dtype=np.float64)
    reached = np.flatnonzero((acc > LEARN_THRESHOLD) & (rel > LEARN_THRESHOLD))
    stable = True
    if reached.size:
        a, r = acc[reached[0] :], rel[reached[0] :]
        lapses = np.sum(a < STABILITY_FLOOR) + np.sum(r < STABILITY_FLOOR)
        good = np.sum(a > STABILITY_FLOOR) + np.sum(r > STABILITY_FLOOR)
        stable = bool(good > 0 and lapses / good < STABILITY_RATIO)
    start = int(acc.shape[0] * (1 - FINAL_FRACTION))
    final_ok = acc[start:].mean() > LEARN_THRESHOLD and rel[start:].mean() > LEARN_THRESHOLD
    if final_ok and stable:
        return "learned"
    return "failed" if stable else "unstable"


def extended_run(
    weights: Weights,
    task: Task,
    alpha: float | Sequence[float] | torch.Tensor,
    seeds: Sequence[int],
    n_trial_lengths: int = EXTENDED_TRIALS,
    cue: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One trial of cue `cue` followed by silence, n_trial_lengths * L steps in all, noise and random r[0] on,
    drawn from each network's ANALYSIS stream; returns (outputs [M, T, O], rates [M, T, N])."""
    L = task.n_steps
    u = torch.zeros(1, n_trial_lengths * L, weights.n_inputs, dtype=weights.dtype, device=weights.device)
    u[0, :L] = task.inputs(weights.device, weights.dtype)[cue * task.trials_per_class]
    generators = [stream_generator(s, STREAM_ANALYSIS, weights.device) for s in seeds]
    r0, noise = initial_and_noise(generators, 1, u.shape[1], weights.W_rec)
    with torch.no_grad():
        outputs, rates = simulate(weights, u, alpha, r0=r0, noise=noise)
    return outputs[:, 0], rates[:, 0]


def top2_projection(rates: torch.Tensor) -> torch.Tensor:
    """Rates [M, T, N] projected (uncentred) on their top two principal axes (found on centred data), [M, T, 2].

    Each axis's sign is fixed so that its largest-magnitude loading is positive: the PSD ratio depends on it.
    """
    x = rates.to(torch.float64)
    _, _, vh = torch.linalg.svd(x - x.mean(dim=1, keepdim=True), full_matrices=False)
    axes = vh[:, :2, :]  # [M, 2, N]
    pivot = axes.abs().argmax(dim=-1, keepdim=True)
    axes = axes * torch.sign(torch.gather(axes, -1, pivot))
    return x @ axes.transpose(1, 2)


def psd_ratio(rates: torch.Tensor) -> torch.Tensor:
    """The reference's PSD ratio per network, [M], from rates [M, T, N] of the extended run.

    The time-by-time correlation matrix of the top-2 projection (rows = time points) is Fourier transformed in 2-D;
    the ratio is the share of its power within PSD_RADIUS of the centre. Each row has only two values, so the
    matrix is s s^T with s = sign(pc1 - pc2): the ratio measures how rarely that sign flips (low = oscillation).
    """
    proj = top2_projection(rates)
    centred = proj - proj.mean(dim=-1, keepdim=True)
    norm = centred.norm(dim=-1, keepdim=True)
    unit = torch.where(norm > 0, centred / norm.clamp_min(1e-300), torch.zeros_like(centred))
    corr = unit @ unit.transpose(1, 2)  # [M, T, T]: np.corrcoef of the rows (0 where a row is constant)
    power = torch.fft.fftshift(torch.fft.fft2(corr), dim=(-2, -1)).abs() ** 2
    T = corr.shape[-1]
    idx = torch.arange(T, device=corr.device, dtype=torch.float64)
    dist = torch.sqrt((idx.view(-1, 1) - T // 2) ** 2 + (idx.view(1, -1) - T // 2) ** 2)
    inside = (power * (dist <= PSD_RADIUS)).sum(dim=(-2, -1))
    return (inside / power.sum(dim=(-2, -1))).to(torch.float32)


def output_fluctuation(outputs: torch.Tensor, trial_length: int) -> torch.Tensor:
    """RMS fluctuation of the outputs about their mean over steps [4L, 5L) of the extended run, [M]."""
    window = outputs[:, (FLUCTUATION_TRIALS - 1) * trial_length : FLUCTUATION_TRIALS * trial_length]
    return (window - window.mean(dim=1, keepdim=True)).pow(2).mean(dim=(1, 2)).sqrt().to(torch.float32)


def mechanism_scores(
    weights: Weights, task: Task, alpha: float | Sequence[float] | torch.Tensor, seeds: Sequence[int]
) -> dict[str, np.ndarray]:
    """PSD ratio, output fluctuation and the PSD-based mechanism ('cycle' / 'manifold') of each network."""
    outputs, rates = extended_run(weights, task, alpha, seeds)
    ratio = psd_ratio(rates).cpu().numpy()
    fluctuation = output_fluctuation(outputs, task.n_steps).cpu().numpy()
    mechanism = np.where(ratio < PSD_THRESHOLD, "cycle", "manifold")
    return {"psd_ratio": ratio, "fluctuation": fluctuation, "mechanism": mechanism}
