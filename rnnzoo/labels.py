"""Mechanism labels exactly as the paper's code assigns them (arXiv 2502.17433, fatihdinc/dynamical-phases-stm;
docs/science.md).

Training curves decide failed / unstable / learned; for learned networks, the PSD ratio of the extended
autonomous run decides limit cycle (< 0.5) or slow-point manifold. The output-fluctuation criterion of the
paper's earlier version is computed beside it. Everything is batched over a stack of networks.

The reference's quirks are kept on purpose, because the paper's statistics were computed with them:
- its accuracy and reliability score the reaction window shifted one step earlier, against the targets (an all-zero
  target step counts as channel 0), with int() truncation of float ms-to-step conversions (`paper_window`), and
  are rounded to 4 decimals (`paper_metrics`): a perfect network scores 0.95 / ~0.945, not 1;
- its PSD test runs on the first trial of its batch, whose cue is on input channel 1 (PAPER_CUE), on the states
  after each update r[1..9L], with the no-post trial length L for every family (`paper_psd_run`);
- its principal axes come from a randomised PCA, so their signs are arbitrary; rnnzoo fixes each axis's sign
  (largest-magnitude loading positive: SIGN_CONVENTION) and reports the ratio under the other relative sign and
  for the other cue beside it (`paper_psd_variants`), so a user can see whether the label is firm.
The better-founded exact-window metrics (every reaction step against its cue) live in rnnzoo.dynamics.task_metrics.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np
import torch

from rnnzoo.dynamics import STREAM_ANALYSIS, Weights, initial_and_noise, simulate, stream_generator
from rnnzoo.task import Task

MECHANISMS = ("failed", "cycle", "manifold", "unstable")  # index = the reference's class code 0..3
CONTROL_LEARNED = "learned"  # the no-memory control family's learned networks: no mechanism test (class code 4)
LABEL_VALUES = MECHANISMS + (CONTROL_LEARNED,)  # every value of the `mechanism` column; `label` is the index here
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
PAPER_CUE = 1  # the reference's first trial (the one its PSD test reads) has its cue on input channel 1
PAPER_DECIMALS = 4  # the reference rounds each step's accuracy and reliability to 4 decimals
PAPER_DELAY_GRID_MS = 20.0  # the reference writes delays as l * 0.020 s (l * 0.040 s for the long-tau family)
SIGN_CONVENTION = "each principal axis's largest-magnitude loading is positive"
PSD_VARIANTS = ("psd_ratio", "psd_ratio_flipped", "psd_ratio_cue0", "psd_ratio_cue0_flipped")


def paper_window(task: Task, delay_grid_ms: float = PAPER_DELAY_GRID_MS) -> slice:
    """The steps the reference scores: [int((cue + T) / dt) - 1, int((cue + T + reaction) / dt) - 1), computed in
    float seconds as its scripts do (delay = l * grid), so the truncation moves the window where they move it
    (300 ms: two all-zero target steps; 320 ms: 9 steps). Delays off the grid use delay_ms / 1000.
    A task with target_held (the no-memory control) is scored by control_window."""
    if task.target_held:
        return control_window(task)
    steps = task.delay_ms / delay_grid_ms
    delay_s = round(steps) * (delay_grid_ms / 1000) if abs(steps - round(steps)) < 1e-9 else task.delay_ms / 1000
    cue_s, reaction_s, dt_s = task.cue_ms / 1000, task.reaction_ms / 1000, task.dt_ms / 1000
    return slice(int(((cue_s + delay_s) / dt_s) - 1), int(((cue_s + delay_s + reaction_s) / dt_s) - 1))


def control_window(task: Task, grid_ms: float = PAPER_DELAY_GRID_MS) -> slice:
    """The steps the reference scores in its no-memory control (train_parallel_fixed.py), clipped to the trial.

    Its script passes the response length R = (l + 1) * 0.020 s where the memory scripts pass the delay, so it scores
    [int((cue + R) / dt - 1), int((cue + R + R) / dt - 1)), float seconds added left to right. The trial is
    cue + R long (no delay), so the window starts at its last step and runs past its end: one scored step, the last
    (two at 300 ms, where (0.03 + 0.3) / 0.005 truncates to 65). Responses off the 20 ms grid use reaction_ms / 1000.
    """
    if task.delay_ms != 0:
        raise ValueError(f"the no-memory control has no delay (delay_ms = 0), got delay_ms = {task.delay_ms}")
    steps = task.reaction_ms / grid_ms
    response_s = (round(steps) * (grid_ms / 1000) if abs(steps - round(steps)) < 1e-9 else task.reaction_ms / 1000)
    cue_s, dt_s = task.cue_ms / 1000, task.dt_ms / 1000
    start = int(((cue_s + response_s) / dt_s) - 1)
    stop = int(((cue_s + response_s + response_s) / dt_s) - 1)
    return slice(start, min(stop, task.n_steps))


def paper_metrics(outputs: torch.Tensor, target_class: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference's accuracy and reliability per network, [M] each, rounded to 4 decimals as it records them.

    outputs: [M, B, W, O] on the scored window; target_class: [B, W], the arg-max of the targets there (0 where the
    target is all zero). p = nan_to_num(o / sum(o)); accuracy = 1 - mean |argmax p - target class|; reliability =
    mean p of the target class."""
    p = torch.nan_to_num(outputs / outputs.sum(dim=-1, keepdim=True))
    target = target_class.unsqueeze(0).expand(p.shape[0], -1, -1)
    accuracy = 1 - (p.argmax(dim=-1) - target).abs().to(outputs.dtype).mean(dim=(1, 2))
    reliability = torch.gather(p, -1, target.unsqueeze(-1)).mean(dim=(1, 2, 3))
    return torch.round(accuracy, decimals=PAPER_DECIMALS), torch.round(reliability, decimals=PAPER_DECIMALS)


def paper_target_class(task: Task, window: slice, device: torch.device | str | None = None) -> torch.Tensor:
    """[B, W]: arg-max of the task's targets on `window` (torch's first-maximum rule: all-zero steps give 0)."""
    return task.targets(device).argmax(dim=-1)[:, window]


def canonical_mechanism(name: str) -> str:
    """The canonical mechanism name for `name` (aliases accepted), or a ValueError listing the valid names."""
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in LABEL_VALUES:
        raise ValueError(
            f"unknown mechanism {name!r}; use one of {list(LABEL_VALUES)} "
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


def control_outcome(accuracy: np.ndarray, reliability: np.ndarray) -> str:
    """'learned' or 'failed' for a no-memory control network, the reference's rule for that family (its
    rnn-largescale-fixedpoint-analysis/sort_data.py): the means of accuracy and reliability over the last 10% of the
    recorded steps both above 0.8; no stability rule, no mechanism test. A run stopped early (loss above 100) is
    judged on the steps it recorded, as the reference judges it (its loss has exploded: in practice failed)."""
    acc, rel = np.asarray(accuracy, dtype=np.float64), np.asarray(reliability, dtype=np.float64)
    if acc.size == 0:
        return "failed"
    start = int(acc.shape[0] * (1 - FINAL_FRACTION))
    learned = acc[start:].mean() > LEARN_THRESHOLD and rel[start:].mean() > LEARN_THRESHOLD
    return CONTROL_LEARNED if learned else "failed"


def extended_run(
    weights: Weights,
    task: Task,
    alpha: float | Sequence[float] | torch.Tensor,
    seeds: Sequence[int],
    n_trial_lengths: int = EXTENDED_TRIALS,
    cue: int = 0,
    after_update: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One trial of cue `cue` followed by silence, n_trial_lengths * L steps in all, noise and random r[0] on,
    drawn from each network's ANALYSIS stream; returns (outputs [M, T, O], rates [M, T, N]).

    rates[:, t] is the state before step t's update (r[0..T-1]), or after it (r[1..T]) with after_update, as the
    reference's model returns them; outputs are always o[0..T-1], read from the states before each update."""
    L = task.n_steps
    T = n_trial_lengths * L
    u = torch.zeros(1, T + int(after_update), weights.n_inputs, dtype=weights.dtype, device=weights.device)
    u[0, :L] = task.inputs(weights.device, weights.dtype)[cue * task.trials_per_class]
    generators = [stream_generator(s, STREAM_ANALYSIS, weights.device) for s in seeds]
    r0, noise = initial_and_noise(generators, 1, u.shape[1], weights.W_rec)
    with torch.no_grad():
        outputs, rates = simulate(weights, u, alpha, r0=r0, noise=noise, readout=task.readout)
    if after_update:
        return outputs[:, 0, :T], rates[:, 0, 1:]
    return outputs[:, 0], rates[:, 0]


def paper_psd_task(task: Task) -> Task:
    """The task the reference builds its extended run from: the same trial without a post-reaction window."""
    return replace(task, post_ms=0.0) if task.post_ms else task


def paper_psd_run(weights: Weights, task: Task, alpha: float | Sequence[float] | torch.Tensor, seeds: Sequence[int],
                  cue: int = PAPER_CUE) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference's extended run: cue `cue` (its first trial: channel 1), 9 no-post trial lengths, the states
    after each update; returns (outputs [M, 9L, O], rates [M, 9L, N])."""
    return extended_run(weights, paper_psd_task(task), alpha, seeds, cue=cue, after_update=True)


def top2_projection(rates: torch.Tensor, flip_second: bool = False) -> torch.Tensor:
    """Rates [M, T, N] projected (uncentred) on their top two principal axes (found on centred data), [M, T, 2].

    Each axis's sign is fixed so that its largest-magnitude loading is positive (SIGN_CONVENTION): the PSD ratio
    depends on the axes' relative sign, which the reference's randomised PCA leaves to chance. flip_second: the
    other relative sign (flipping both changes nothing).
    """
    x = rates.to(torch.float64)
    _, _, vh = torch.linalg.svd(x - x.mean(dim=1, keepdim=True), full_matrices=False)
    axes = vh[:, :2, :]  # [M, 2, N]
    pivot = axes.abs().argmax(dim=-1, keepdim=True)
    axes = axes * torch.sign(torch.gather(axes, -1, pivot))
    if flip_second:
        axes = axes * torch.tensor([1.0, -1.0], dtype=axes.dtype, device=axes.device).view(1, 2, 1)
    return x @ axes.transpose(1, 2)


def psd_ratio(rates: torch.Tensor, flip_second: bool = False) -> torch.Tensor:
    """The reference's PSD ratio per network, [M], from rates [M, T, N] of the extended run.

    The time-by-time correlation matrix of the top-2 projection (rows = time points) is Fourier transformed in 2-D;
    the ratio is the share of its power within PSD_RADIUS of the centre. Each row has only two values, so the
    matrix is s s^T with s = sign(pc1 - pc2): the ratio measures how rarely that sign flips (low = oscillation).
    """
    proj = top2_projection(rates, flip_second)
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


def paper_psd_variants(weights: Weights, task: Task, alpha: float | Sequence[float] | torch.Tensor,
                       seeds: Sequence[int], chunk: int | None = None) -> dict[str, np.ndarray]:
    """The reference's PSD ratio (cue 1, SIGN_CONVENTION) and its three variants (the other relative sign, cue 0,
    both), the output fluctuation of the reference's run, and `label_firm`: whether all four variants give the same
    label. chunk: networks per PSD batch (bounds the [M, 9L, 9L] correlation matrices' memory)."""
    M = weights.n_networks
    chunk = chunk or M
    out: dict[str, list[np.ndarray]] = {name: [] for name in PSD_VARIANTS + ("fluctuation",)}
    for cue, suffix in ((PAPER_CUE, ""), (1 - PAPER_CUE, "_cue0")):
        outputs, rates = paper_psd_run(weights, task, alpha, seeds, cue=cue)
        if cue == PAPER_CUE:
            out["fluctuation"].append(output_fluctuation(outputs, paper_psd_task(task).n_steps).cpu().numpy())
        for flip in (False, True):
            name = f"psd_ratio{suffix}{'_flipped' if flip else ''}"
            out[name] = [psd_ratio(rates[i : i + chunk], flip).cpu().numpy() for i in range(0, M, chunk)]
    result = {name: np.concatenate(parts).astype(np.float32) for name, parts in out.items()}
    labels = np.stack([result[name] < PSD_THRESHOLD for name in PSD_VARIANTS])
    result["label_firm"] = labels.all(axis=0) | (~labels).all(axis=0)
    return result


def mechanism_scores(
    weights: Weights, task: Task, alpha: float | Sequence[float] | torch.Tensor, seeds: Sequence[int]
) -> dict[str, np.ndarray]:
    """The paper's PSD ratio (its trial, its states, SIGN_CONVENTION), the output fluctuation, the PSD-based
    mechanism ('cycle' / 'manifold'), the three other PSD variants and whether the label is firm, per network."""
    scores = paper_psd_variants(weights, task, alpha, seeds)
    scores["mechanism"] = np.where(scores["psd_ratio"] < PSD_THRESHOLD, "cycle", "manifold")
    return scores
