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
- its label is a random variable: its extended run starts from a random state with fresh noise, and its principal
  axes come from a randomised PCA (torch.pca_lowrank, unseeded), whose random start decides the axes' relative sign
  and with it the PSD ratio. rnnzoo draws exactly that randomness LABEL_DRAWS times per network from the network's
  own seeded stream (`label_draws`) and stores the modal label with the share of draws behind it
  (`mechanism_scores`): deterministic, and the faithful target where the paper's class.txt holds one draw.
The better-founded exact-window metrics (every reaction step against its cue) live in rnnzoo.dynamics.task_metrics.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np
import torch

from rnnzoo.dynamics import (N_STREAMS, STREAM_ANALYSIS, Weights, as_alpha, draw_normal, initial_and_noise, simulate,
                             stream_generator)
from rnnzoo.task import Task

MECHANISMS = ("failed", "cycle", "manifold", "unstable")  # index = the reference's class code 0..3
CONTROL_LEARNED = "learned"  # the no-memory control family's learned networks: no mechanism test (class code 4)
LABEL_VALUES = MECHANISMS + (CONTROL_LEARNED,)  # every value of the `mechanism` column; `label` is the index here
# The one integer encoding of the mechanism, everywhere: the table's `label`, the ClassLabel `datasets` gives the
# `mechanism` column of every config, the benchmark's targets and the Evaluator's expected predictions.
MECHANISM_CODES = {name: code for code, name in enumerate(LABEL_VALUES)}  # failed 0, cycle 1, manifold 2, unstable 3, learned 4
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
LABEL_DRAWS = 101  # draws of the reference's randomness behind each modal label (odd: no ties; docs/labels.md)
PCA_RANK = 6  # torch.pca_lowrank's default rank q = min(6, T, N)
PCA_ITERATIONS = 2  # ... and its default number of subspace iterations
DRAW_CHUNK_ELEMENTS = 2**25  # recorded rates (networks x draws x steps x units) per batch of label draws


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


def randomized_pca_axes(rates: torch.Tensor, start: torch.Tensor, n_iter: int = PCA_ITERATIONS) -> torch.Tensor:
    """Top two principal axes of each batch entry of rates [B, T, N], [B, N, 2], found the way the reference's
    torch.pca_lowrank(x) finds them (centred data, rank q = start's width, n_iter subspace iterations, each step
    re-orthonormalised by QR, then the SVD of the projected matrix) from the random start matrix `start` [B, N, q].

    The signs of the axes follow from `start` through the QR and SVD conventions: this is the randomness that makes
    the reference's label a random variable (its start is torch.randn, unseeded), reproduced with a seeded start."""
    x = rates.to(torch.float64)
    centred = x - x.mean(dim=1, keepdim=True)
    basis = torch.linalg.qr(centred @ start.to(torch.float64)).Q
    for _ in range(n_iter):
        basis = torch.linalg.qr(centred.transpose(1, 2) @ basis).Q
        basis = torch.linalg.qr(centred @ basis).Q
    _, _, vh = torch.linalg.svd(basis.transpose(1, 2) @ centred, full_matrices=False)
    return vh[:, :2, :].transpose(1, 2)


def psd_ratio_of(projection: torch.Tensor) -> torch.Tensor:
    """The reference's PSD ratio of each projection [B, T, 2] (rates on two axes, uncentred), [B] float64.

    The reference forms the time-by-time correlation matrix of the rows (np.corrcoef of 2 values: s_i s_j with
    s = sign(pc1 - pc2); 0 for a row whose two values are equal), takes the power of its centred 2-D FFT and the
    share within PSD_RADIUS of the centre. As the matrix is the outer product s s^T, its 2-D FFT is S S^T with
    S = FFT(s): the same numbers from one 1-D FFT per trace instead of a T x T one (O(T log T), not O(T^2 log T))."""
    s = torch.sign(projection[..., 0] - projection[..., 1]).to(torch.float64)  # [B, T]
    T = s.shape[-1]
    power = torch.fft.fftshift(torch.fft.fft(s, dim=-1), dim=-1).abs() ** 2  # [B, T]: |S_k|^2, zero frequency at T // 2
    centre = T // 2
    if centre < PSD_RADIUS or centre + PSD_RADIUS >= T:
        raise ValueError(f"a run of {T} steps is too short for the PSD test's disc of radius {PSD_RADIUS}; "
                         f"give at least {2 * PSD_RADIUS + 2} steps")
    offsets = torch.arange(-PSD_RADIUS, PSD_RADIUS + 1, device=s.device)
    disc = ((offsets.view(-1, 1) ** 2 + offsets.view(1, -1) ** 2) <= PSD_RADIUS**2).to(torch.float64)
    near = power[:, centre - PSD_RADIUS : centre + PSD_RADIUS + 1]  # the frequencies the disc can reach
    inside = torch.einsum("bk,kl,bl->b", near, disc, near)
    total = power.sum(dim=-1) ** 2
    return torch.where(total > 0, inside / total.clamp_min(1e-300), torch.ones_like(total))


def output_fluctuation(outputs: torch.Tensor, trial_length: int) -> torch.Tensor:
    """RMS fluctuation of the outputs about their mean over steps [4L, 5L) of the extended run, [M]."""
    window = outputs[:, (FLUCTUATION_TRIALS - 1) * trial_length : FLUCTUATION_TRIALS * trial_length]
    return (window - window.mean(dim=1, keepdim=True)).pow(2).mean(dim=(1, 2)).sqrt().to(torch.float32)


def label_draws(weights: Weights, task: Task, alpha: float | Sequence[float] | torch.Tensor, seeds: Sequence[int],
                n_draws: int = LABEL_DRAWS, cue: int = PAPER_CUE) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference's PSD test drawn n_draws times per network with exactly the randomness it has: each draw is
    its extended run (its trial, 9 no-post trial lengths, states after each update) from a fresh random r[0] and
    noise, and its randomised PCA from a fresh random start. Returns (psd ratios [M, n_draws] float64, output
    fluctuations [M, n_draws] float32).

    Network m draws from its ANALYSIS stream (seed seeds[m]), in this order: n_draws x N normals for r[0], then
    n_draws x (9L + 1) x N for the noise, then n_draws x N x PCA_RANK for the PCA starts; so a label depends only on
    the network's weights and seed, never on the networks batched with it."""
    M, N = weights.n_networks, weights.n_units
    run_task_ = paper_psd_task(task)
    L = run_task_.n_steps
    T = EXTENDED_TRIALS * L
    u = torch.zeros(n_draws, T + 1, weights.n_inputs, dtype=weights.dtype, device=weights.device)
    u[:, :L] = run_task_.inputs(weights.device, weights.dtype)[cue * run_task_.trials_per_class]
    generators = [stream_generator(s, STREAM_ANALYSIS, weights.device) for s in seeds]
    r0, noise = initial_and_noise(generators, n_draws, T + 1, weights.W_rec)
    starts = draw_normal(generators, (n_draws, N, min(PCA_RANK, T, N)), weights.W_rec.to(torch.float64))
    with torch.no_grad():
        outputs, rates = simulate(weights, u, alpha, r0=r0, noise=noise, readout=task.readout)
    del noise
    outputs, rates = outputs[:, :, :T], rates[:, :, 1:]  # o[0..T-1]; the states after each update, r[1..T]
    fluctuation = output_fluctuation(outputs.reshape(M * n_draws, T, -1), L).view(M, n_draws)
    flat = rates.reshape(M * n_draws, T, N)
    axes = randomized_pca_axes(flat, starts.reshape(M * n_draws, N, -1))
    ratios = psd_ratio_of(flat.to(torch.float64) @ axes).view(M, n_draws)
    return ratios, fluctuation


def label_recipe() -> dict:
    """What a zoo's labels were drawn with, for its manifest: the number of draws and where their randomness comes
    from, so anyone can redraw them."""
    return {"draws": LABEL_DRAWS, "rule": "modal label over the draws; PSD ratio < 0.5 = cycle",
            "randomness": f"per network, its analysis stream (torch generator seeded seed * {N_STREAMS} + "
                          f"{STREAM_ANALYSIS}): draws x N normals for r[0], draws x "
                          f"(9L + 1) x N for the noise, draws x N x {PCA_RANK} for the PCA starts, in that order",
            "pca": {"rank": PCA_RANK, "iterations": PCA_ITERATIONS, "algorithm": "torch.pca_lowrank's"}}


def modal_labels(ratios: np.ndarray) -> dict[str, np.ndarray]:
    """From PSD ratios [M, K] (K odd): the modal label per network ('cycle' when most draws give a ratio under
    PSD_THRESHOLD), the share of draws that gave it, and the median ratio (under the threshold exactly when the
    modal label is 'cycle', because K is odd)."""
    ratios = np.asarray(ratios, dtype=np.float64)
    K = ratios.shape[1]
    if K % 2 == 0:
        raise ValueError(f"the modal label needs an odd number of draws (no ties), got {K}")
    cycle_share = (ratios < PSD_THRESHOLD).mean(axis=1)
    cycle = cycle_share > 0.5
    return {"psd_label": np.where(cycle, "cycle", "manifold"),
            "mechanism_share": np.where(cycle, cycle_share, 1 - cycle_share),
            "psd_ratio": np.median(ratios, axis=1)}


def mechanism_scores(weights: Weights, task: Task, alpha: float | Sequence[float] | torch.Tensor,
                     seeds: Sequence[int], n_draws: int = LABEL_DRAWS,
                     max_elements: int = DRAW_CHUNK_ELEMENTS) -> dict[str, np.ndarray]:
    """The reference PSD test's modal label per network over n_draws draws of its randomness (`label_draws`):
    psd_label ('cycle' / 'manifold', whatever the network's training outcome), mechanism_share (the share of draws
    that gave it), psd_ratio (the median ratio) and fluctuation (the median output fluctuation of the older
    criterion). Networks are processed in chunks of at most max_elements recorded rates; chunking changes nothing."""
    M, N = weights.n_networks, weights.n_units
    L = paper_psd_task(task).n_steps
    per_network = n_draws * (EXTENDED_TRIALS * L + 1) * N
    chunk = max(1, max_elements // per_network)
    alphas = as_alpha(alpha, M, weights.W_rec)
    ratios, fluctuation = [], []
    for lo in range(0, M, chunk):
        part = list(range(lo, min(M, lo + chunk)))
        r, f = label_draws(weights.select(part), task, alphas[lo : lo + len(part)], [seeds[i] for i in part], n_draws)
        ratios.append(r.cpu().numpy())
        fluctuation.append(f.cpu().numpy())
    result = modal_labels(np.concatenate(ratios))
    result["fluctuation"] = np.median(np.concatenate(fluctuation), axis=1)
    result["draw_ratios"] = np.concatenate(ratios)
    return result
