"""Mechanism labels with their evidence, for zoo networks and for any leaky tanh RNN.

For each network, with the zoo table's column names: the paper's label (`mechanism`, its class code `label`: the
reference PSD test's modal label over its own randomness, with `mechanism_share`, the share of draws behind it;
rnnzoo.labels) and `dynamics_label`, read from the dynamics themselves: the reference's extended run after one cue, continued without noise to
RUN_TRIALS trial lengths, is a limit cycle when its tail returns to itself (period, amplitude), otherwise its slow and fixed
points tell a slow-point manifold (a marginal direction, |eigenvalue| of dF/dx near 1, a slow drift, or a damped
oscillation still spiralling into a slow focus) from an
isolated fixed point. Networks that solve the task are labelled cycle or manifold (irregular if the activity neither
returns, settles nor drifts slowly: chaos); zoo networks that did not learn keep failed / unstable from their
training curves; other weights get cycle / manifold / fixed / irregular. `dynamics_agrees` says whether the two
agree (paper cycle = dynamics cycle; paper manifold = dynamics manifold or two fixed points).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from rnnzoo.analysis.cycles import fit_cycles
from rnnzoo.analysis.threads import one_thread
from rnnzoo.analysis.fixed_points import FIXED_SPEED, SLOW_SPEED, SlowPoints, find_slow_points, velocity
from rnnzoo.dynamics import Weights, as_alpha, simulate
from rnnzoo.labels import FLUCTUATION_THRESHOLD, LABEL_VALUES, LEARN_THRESHOLD, extended_run, mechanism_scores
from rnnzoo.simulation import run_task
from rnnzoo.task import N_INPUTS, N_OUTPUTS, Task

MARGINAL = 0.01  # |leading eigenvalue of dF/dx| >= 1 - MARGINAL: a marginal (line / manifold) direction
DRIFT_SPEED = 1e-2  # a tail still moving slower than this per step, without returning, drifts along a manifold
RUN_TRIALS = 20  # the run lasts this many trial lengths (noiseless after the first 9); its second half is tested
MIN_RUN_STEPS = 400  # ... and at least this many steps, so short trials still show cycles of ~130 steps
N_STARTS = 6  # trajectory states each slow-point search starts from


@dataclass
class NetworkDynamics:
    """The evidence behind one network's label: the noiseless run and the points found along it."""

    id: str
    dynamics_label: str
    regime: str
    rates: np.ndarray  # [T, N], the reference's extended run after cue 0, continued without noise to RUN_TRIALS
    outputs: np.ndarray  # [T, O]
    delay: slice  # steps of the delay in `rates`
    speed_profile: np.ndarray  # [T], ||F(x_t) - x_t|| along the run (F with zero input)
    slow_points: np.ndarray  # [P, N], distinct points found, slowest first
    slow_speeds: np.ndarray  # [P]
    eigenvalues: np.ndarray  # [P, n_eig] complex, leading eigenvalues of dF/dx (NaN beyond the computed ones)
    period: float  # steps, NaN when not a cycle


def _check_finite(weights: Weights) -> None:
    for name, t in weights.tensors().items():
        if not bool(torch.isfinite(t).all()):
            bad = (~torch.isfinite(t)).flatten(1).any(1).nonzero().flatten().tolist()
            raise ValueError(f"{name} contains NaN or infinite values (networks {bad[:8]}); pass finite weights")
    if weights.n_inputs != N_INPUTS or weights.n_outputs != N_OUTPUTS:
        raise ValueError(
            f"the task has {N_INPUTS} cue inputs and {N_OUTPUTS} outputs but the weights have W_in "
            f"{tuple(weights.W_in.shape[1:])} and W_out {tuple(weights.W_out.shape[1:])}; pass W_in [N, {N_INPUTS}] "
            f"and W_out [{N_OUTPUTS}, N]"
        )


def diagnose(weights: Weights, task: Task, alpha: float | Sequence[float] | torch.Tensor, seeds: Sequence[int], *,
             outcomes: Sequence[str] | None = None, accuracy: Sequence[float] | None = None,
             reliability: Sequence[float] | None = None, n_starts: int = N_STARTS, iterations: int = 150,
             details: bool = False, ids: Sequence[str] | None = None, run_trials: int = RUN_TRIALS,
             single_thread: bool = True) -> tuple[pd.DataFrame, list[NetworkDynamics]]:
    """Labels and diagnostics of M networks sharing one task, one DataFrame row per network (+ evidence objects).

    outcomes: 'learned' / 'failed' / 'unstable' from training curves when known (zoo networks); otherwise accuracy
    and reliability (else the canonical evaluation is run) decide whether the network solves the task.
    single_thread: run on one torch thread (10x faster than 2 threads on a loaded 2-core CPU; see threads.py).
    """
    kwargs = dict(outcomes=outcomes, accuracy=accuracy, reliability=reliability, n_starts=n_starts,
                  iterations=iterations, details=details, ids=ids, run_trials=run_trials)
    if single_thread and weights.device.type == "cpu":
        with one_thread():
            return _diagnose(weights, task, alpha, seeds, **kwargs)
    return _diagnose(weights, task, alpha, seeds, **kwargs)


def _diagnose(weights: Weights, task: Task, alpha: float | Sequence[float] | torch.Tensor, seeds: Sequence[int], *,
              outcomes: Sequence[str] | None, accuracy: Sequence[float] | None, reliability: Sequence[float] | None,
              n_starts: int, iterations: int, details: bool, ids: Sequence[str] | None,
              run_trials: int) -> tuple[pd.DataFrame, list[NetworkDynamics]]:
    _check_finite(weights)
    M = weights.n_networks
    a = as_alpha(alpha, M, weights.W_rec)
    seeds = [int(s) for s in seeds]
    if len(seeds) != M:
        raise ValueError(f"got {len(seeds)} seeds for {M} networks; give one seed per network")
    # The paper's two criteria as its code computes them (rnnzoo.labels: its trial, cue 1, states after each update),
    # drawn LABEL_DRAWS times over its randomness: the modal label and the share of draws behind it.
    with one_thread():
        paper = mechanism_scores(weights, task, a, seeds)
    fluct = paper["fluctuation"].astype(np.float64)
    # rnnzoo's own dynamics analysis follows each cue: the extended run after it, continued without noise.
    cues = [_cue_dynamics(weights, task, a, seeds, cue, run_trials, n_starts, iterations) for cue in (0, 1)]
    first = cues[0]
    rates, out, cyc, slow, profile, regime = first.rates, first.out, first.cyc, first.slow, first.profile, first.regime
    final_speed, lead = first.final_speed, first.final_eig
    delay = slice(task.cue_steps, task.reaction_window.start)
    delay_speed = profile[:, delay] if delay.stop > delay.start else profile[:, task.cue_steps : task.cue_steps + 1]
    periodic = cyc.periodic.cpu().numpy()
    separation = (cues[0].rates[:, -1] - cues[1].rates[:, -1]).norm(dim=-1).cpu().numpy().astype(np.float64)
    combined = combine_cues(cues[0].regime, cues[1].regime, separation)
    if outcomes is None:
        if accuracy is None or reliability is None:
            sim = run_task(weights, task, a, seeds)
            accuracy, reliability = sim.accuracy.cpu().numpy(), sim.reliability.cpu().numpy()
        outcomes = np.where((np.asarray(accuracy) > LEARN_THRESHOLD) & (np.asarray(reliability) > LEARN_THRESHOLD),
                            "learned", "untrained")
    outcomes = np.asarray(outcomes, dtype=object)
    solves = outcomes == "learned"
    # Solvers: the combined label, where one isolated fixed point reached by both cues still carries the memory in
    # its slow transient (manifold); zoo networks that did not learn keep their training outcome.
    solver_label = np.where(combined == "fixed", "manifold", combined)
    dynamics_label = np.where(solves, solver_label,
                              np.where(np.isin(outcomes, ["failed", "unstable"]), outcomes, combined))
    # The zoo's columns, one meaning each: mechanism = the paper's label (its training outcome where the network
    # did not learn; 'failed' for weights that do not solve the task), label = its class code.
    psd_label = paper["psd_label"]
    mechanism = np.where(solves, psd_label, np.where(outcomes == "unstable", "unstable", "failed"))
    agrees = np.where(psd_label == "cycle", dynamics_label == "cycle",
                      np.isin(dynamics_label, MANIFOLD_DYNAMICS))
    period = cyc.period.cpu().numpy()
    n_slow = slow.n_slow().cpu().numpy()
    frame = pd.DataFrame({
        "id": list(ids) if ids is not None else [f"network-{i}" for i in range(M)],
        "mechanism": mechanism.astype(str),
        "label": np.array([LABEL_VALUES.index(m) for m in mechanism], dtype=np.int8),
        "mechanism_share": np.where(solves, paper["mechanism_share"], np.nan),
        "dynamics_agrees": pd.array([bool(x) if ok else None for x, ok in zip(agrees, solves)], dtype="boolean"),
        "dynamics_label": dynamics_label.astype(str),
        "regime": regime.astype(str),
        "regime_cue0": cues[0].regime.astype(str),
        "regime_cue1": cues[1].regime.astype(str),
        "end_separation": separation,
        "solves_task": solves,
        "psd_label": psd_label,
        "psd_share": paper["mechanism_share"],
        "psd_ratio": paper["psd_ratio"],
        "fluctuation": fluct,
        "fluctuation_label": np.where(fluct > FLUCTUATION_THRESHOLD, "cycle", "manifold"),
        "period_steps": period,
        "period_ratio": period / (task.delay_steps + task.reaction_steps),
        "period_steps_cue1": cues[1].cyc.period.cpu().numpy(),
        "amplitude": np.where(periodic, cyc.amplitude.cpu().numpy(), np.nan),
        "output_amplitude": np.where(periodic, cyc.output_amplitude.cpu().numpy(), np.nan),
        "return_distance": cyc.return_distance.cpu().numpy(),
        "n_slow_points": n_slow.astype(np.int32),
        "n_fixed_points": slow.n_slow(FIXED_SPEED).cpu().numpy().astype(np.int32),
        "slowest_speed": slow.slowest_speed().cpu().numpy().astype(np.float64),
        "final_speed": final_speed,
        "final_eigenvalue": lead.astype(np.float64),
        "delay_min_speed": delay_speed.amin(1).cpu().numpy().astype(np.float64),
        "delay_mean_speed": delay_speed.mean(1).cpu().numpy().astype(np.float64),
    })
    evidence = _evidence(frame, rates, out, delay, profile, slow, period) if details else []
    return frame, evidence


MANIFOLD_DYNAMICS = ("manifold", "two_fixed_points")  # dynamics labels that agree with the paper's 'manifold'
SEPARATE = 0.05  # final states of the two cues' runs this far apart (Euclidean, rate units) are distinct points
DYNAMICS_LABELS = {
    "cycle": "after both cues the activity ends on a limit cycle",
    "manifold": "after both cues it settles slowly: a marginal direction, a slow drift or a slow focus (a slow-point "
                "manifold); for a network that solves the task, also one fixed point reached by both cues, the memory "
                "then living in the slow transient",
    "two_fixed_points": "each cue ends on its own isolated fixed point (the two final states are over SEPARATE apart): "
                        "the memory is held by bistability",
    "mixed": "one cue ends on a limit cycle, the other does not",
    "fixed": "both cues end on one isolated fixed point (networks that do not solve the task)",
    "irregular": "after one cue or both the activity neither returns, settles nor drifts slowly (chaos)",
    "failed": "zoo network that never learned (its training outcome, kept)",
    "unstable": "zoo network that learned and lost it (its training outcome, kept)",
}
"""Values of the `dynamics_label` column (in the zoo's table and in classify's output), what each means."""


def combine_cues(regime0: np.ndarray, regime1: np.ndarray, separation: np.ndarray) -> np.ndarray:
    """One dynamics label per network from the regime after each cue and the distance between the final states."""
    cycle0, cycle1 = regime0 == "cycle", regime1 == "cycle"
    irregular = (regime0 == "irregular") | (regime1 == "irregular")
    both_fixed = (regime0 == "fixed") & (regime1 == "fixed")
    return np.select(
        [irregular, cycle0 & cycle1, cycle0 ^ cycle1, both_fixed & (separation > SEPARATE), both_fixed],
        ["irregular", "cycle", "mixed", "two_fixed_points", "fixed"], default="manifold").astype(object)


def _cue_dynamics(weights: Weights, task: Task, a: torch.Tensor, seeds: Sequence[int], cue: int, run_trials: int,
                  n_starts: int, iterations: int) -> SimpleNamespace:
    """The extended run after one cue (noise for EXTENDED_TRIALS trial lengths, then noiseless to run_trials), its
    tail's cycle fit, slow points found from states along it, the speed profile and the regime it ends in."""
    M, L = weights.n_networks, task.n_steps
    ref_out, ref_rates = extended_run(weights, task, a, seeds, cue=cue)
    T = max(run_trials * L, MIN_RUN_STEPS)
    extra = max(0, T - ref_rates.shape[1])
    with torch.no_grad():
        silence = torch.zeros(1, extra + 1, weights.n_inputs, dtype=weights.dtype, device=weights.device)
        more_out, more = simulate(weights, silence, a, r0=ref_rates[:, -1].unsqueeze(1), readout=task.readout)
        out = torch.cat([ref_out, more_out[:, 0, 1:]], dim=1)[:, :T]
        rates = torch.cat([ref_rates, more[:, 0, 1:]], dim=1)[:, :T]
        del ref_out, ref_rates, more_out, more
        tail_start = T - T // 2
        cyc = fit_cycles(rates[:, tail_start:], out[:, tail_start:])
        autonomous = task.cue_steps if task.cue_held is False else task.reaction_window.stop
        picks = torch.linspace(autonomous, T - 1, n_starts, device=rates.device).round().long()
        slow = find_slow_points(weights, rates[:, picks], a, iterations=iterations)
        profile = velocity(weights, rates, a)  # [M, T]
        # The leading eigenvalue at the end decides manifold vs fixed: needed only where the run did not cycle.
        final_eig = torch.full((M,), float("nan"), dtype=torch.float64, device=rates.device)
        # Where the slowest point found is the final state itself, its eigenvalues are already computed.
        near = ((slow.points[:, 0] - rates[:, -1]).norm(dim=-1) < 1e-4) & torch.isfinite(slow.eigenvalues[:, 0, 0].real)
        final_eig = torch.where(near & ~cyc.periodic, slow.eigenvalues[:, 0, 0].abs(), final_eig)
        still = (~cyc.periodic & ~near).nonzero().flatten()
        if still.numel():
            final_eig[still] = find_final_eigenvalue(weights.select(still), rates[still, -1], a[still])
    final_speed = profile[:, -1].cpu().numpy().astype(np.float64)
    periodic = cyc.periodic.cpu().numpy()
    lead = final_eig.cpu().numpy()
    settled = final_speed < SLOW_SPEED
    marginal = lead >= 1 - MARGINAL
    damped = cyc.damped.cpu().numpy()
    regime = np.select([periodic, settled & marginal, settled, damped | (final_speed < DRIFT_SPEED)],
                       ["cycle", "manifold", "fixed", "manifold"], default="irregular")
    return SimpleNamespace(rates=rates, out=out, cyc=cyc, slow=slow, profile=profile, final_eig=lead,
                           final_speed=final_speed, regime=regime)


def find_final_eigenvalue(weights: Weights, states: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """|leading eigenvalue| of dF/dx at states [M, N] (one per network), [M]."""
    from rnnzoo.analysis.fixed_points import jacobian

    network = torch.arange(weights.n_networks, device=states.device)
    J = jacobian(weights, network, states, alpha)
    with one_thread():
        return torch.linalg.eigvals(J.to(torch.float64)).abs().amax(-1)


def _evidence(frame: pd.DataFrame, rates: torch.Tensor, out: torch.Tensor, delay: slice, profile: torch.Tensor,
              slow: SlowPoints, period: np.ndarray) -> list[NetworkDynamics]:
    items = []
    for m in range(len(frame)):
        keep = slow.distinct[m].cpu().numpy()
        items.append(NetworkDynamics(
            id=str(frame["id"].iloc[m]), dynamics_label=str(frame["dynamics_label"].iloc[m]), regime=str(frame["regime"].iloc[m]),
            rates=rates[m].cpu().numpy(), outputs=out[m].cpu().numpy(), delay=delay,
            speed_profile=profile[m].cpu().numpy(), slow_points=slow.points[m].cpu().numpy()[keep],
            slow_speeds=slow.speed[m].cpu().numpy()[keep], eigenvalues=slow.eigenvalues[m].cpu().numpy()[keep],
            period=float(period[m])))
    return items


# ---- front door ----------------------------------------------------------------------------------------------------
@dataclass
class TaskGroup:
    """Networks that share one task, with what classify needs of them: their stacked weights, per-network alpha,
    seeds (the canonical random streams) and ids, their training outcomes ('learned' / 'failed' / 'unstable'; None
    decides by the canonical evaluation) and their positions in the caller's order.

    rnnzoo.Network and rnnzoo.Zoo hand classify their networks this way (their `task_groups()`), so the analysis
    works on weights and tasks and never needs to know what a Zoo is."""

    weights: Weights
    task: Task
    alpha: Sequence[float] | torch.Tensor
    seeds: list[int]
    ids: list[str]
    outcomes: list[str] | None
    positions: list[int]


def _groups(x: Any, use_curves: bool) -> list[TaskGroup]:
    """x as TaskGroups: a TaskGroup, anything with task_groups() (a Network, a Zoo), or a list of either."""
    if isinstance(x, TaskGroup):
        return [x]
    if hasattr(x, "task_groups"):
        return list(x.task_groups(use_curves=use_curves))
    if isinstance(x, (list, tuple)) and x and all(isinstance(n, TaskGroup) or hasattr(n, "task_groups") for n in x):
        groups, offset = [], 0
        for item in x:  # each item's positions follow the items before it
            parts = _groups(item, use_curves)
            groups += [replace(g, positions=[offset + p for p in g.positions]) for g in parts]
            offset += sum(len(g.positions) for g in parts)
        return groups
    raise TypeError(
        f"classify takes a rnnzoo.Network, a rnnzoo.Zoo or a list of Networks, got {type(x).__name__}; for raw "
        "weights use rnnzoo.Network.from_weights(W_rec=..., W_in=..., W_out=..., alpha=...)"
    )


def classify(x: Any, *, details: bool = False, use_curves: bool = True, chunk_size: int = 256,
             n_starts: int = N_STARTS, iterations: int = 150, progress: bool = True, single_thread: bool = True
             ) -> pd.DataFrame | tuple[pd.DataFrame, list[NetworkDynamics]]:
    """Mechanism label and diagnostics of every network in `x` (a Network, a Zoo or a list of Networks; or
    TaskGroups: anything with a `task_groups(use_curves=...)` method works).

    Returns a DataFrame with one row per network, in order (see `diagnose` for the columns); with details=True also
    a list of NetworkDynamics (noiseless run, speed profile, slow points and their eigenvalues) for plots.
    use_curves=False ignores training curves and decides 'solves the task' by the canonical evaluation instead.
    """
    from tqdm.auto import tqdm

    groups = _groups(x, use_curves)
    total = sum(len(g.positions) for g in groups)
    frames, evidence, order = [], [], []
    quiet = True if not progress or total < 2 * chunk_size else None  # None: bars on a terminal only, not in logs
    with tqdm(total=total, desc="classify", unit="net", disable=quiet) as bar:
        for g in groups:
            M = len(g.positions)
            alpha = torch.as_tensor(np.asarray(g.alpha, dtype=np.float64)).to(g.weights.dtype)
            for s in range(0, M, chunk_size):
                part = slice(s, min(M, s + chunk_size))
                w = g.weights.select(list(range(part.start, part.stop)))
                frame, ev = diagnose(w, g.task, alpha[part].to(w.device), g.seeds[part],
                                     outcomes=None if g.outcomes is None else g.outcomes[part],
                                     n_starts=n_starts, iterations=iterations, details=details, ids=g.ids[part],
                                     single_thread=single_thread)
                frames.append(frame)
                evidence.extend(ev)
                order.extend(g.positions[part])
                bar.update(part.stop - part.start)
    result = pd.concat(frames, ignore_index=True)
    rank = np.argsort(np.asarray(order), kind="stable")
    result = result.iloc[rank].reset_index(drop=True)
    if details:
        return result, [evidence[i] for i in rank]
    return result
