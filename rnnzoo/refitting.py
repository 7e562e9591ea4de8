"""Refit reports: record networks on their task, refit them with CORNN, and score each refit against the truth.

The layer between the solver (rnnzoo.cornn: tensors only) and the zoo (rnnzoo.zoo turns what this returns into
Networks and tables). It works on Weights, Tasks, alphas and seeds; it imports neither Zoo nor Network.

Mechanism names follow one vocabulary (rnnzoo.labels.MECHANISMS and rnnzoo.analysis.classify.DYNAMICS_LABELS,
which contains them), and each column says which definition it follows:
- dynamics_label_true / dynamics_label_refit: rnnzoo.analysis.classify's `dynamics_label` judged on the canonical
  evaluation, the same rule for both (no training curves: the refit has none), so 'unstable' never appears here;
- psd_label_true / psd_label_refit: the reference PSD test's modal label (classify's `psd_label`);
- the zoo table adds mechanism_stored: the zoo's stored label (training curves + PSD test, the paper's definition).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from rnnzoo.cornn import fit_weights, r_squared, weight_correlation
from rnnzoo.dynamics import NOISE_STD, STREAM_ANALYSIS, Weights, simulate, step_map
from rnnzoo.labels import mechanism_scores
from rnnzoo.simulation import run_task
from rnnzoo.task import Task

HELD_OUT_EVERY = 5  # every 5th simulated trial is held out for the R^2 scores
OBSERVATION_CLIP = 1e-4  # noisy recorded rates are kept inside (-1 + this, 1 - this), like a real tanh-unit recording


@dataclass
class RefitReport:
    """How well CORNN recovered one network from its simulated activity (see the module docstring for labels)."""

    id: str
    weight_corr: float  # Pearson correlation of refit and true W_rec on the observed units
    one_step_r2: float  # held-out trials, r[t+1] predicted from the recorded r[t]
    free_running_r2: float  # held-out trials, refit network run from the recorded r[0] with the recorded inputs
    dynamics_label_true: str  # classify's dynamics_label, canonical evaluation (use_curves=False); "" when not computed
    dynamics_label_refit: str
    solves_task_true: bool | None
    solves_task_refit: bool | None
    psd_label_true: str  # the reference PSD test's modal label: 'cycle' or 'manifold'
    psd_label_refit: str
    psd_ratio_true: float
    psd_ratio_refit: float
    observed_units: int
    n_units: int
    iterations: int  # ADMM iterations of this network's fit
    converged: bool  # met its stopping rule without diverging
    diverged: bool  # non-finite weights or runaway predictions: the weights are not a fit
    l2: float  # the ridge the fit used
    fit_seconds: float  # the batched fit's time divided by the networks in it
    weights: Weights = field(repr=False)  # the refit, a stack of one
    alpha: float = field(repr=False, default=0.5)
    task: Task | None = field(repr=False, default=None)
    seed: int = field(repr=False, default=0)
    observed: list[int] = field(repr=False, default_factory=list)
    network: Any = field(repr=False, default=None)  # the refit as a rnnzoo.Network (set by rnnzoo.zoo)

    @property
    def same_mechanism(self) -> bool:
        """Whether the refit has the true network's classify label (the reference PSD label when that is all)."""
        if self.dynamics_label_true or self.dynamics_label_refit:
            return self.dynamics_label_true == self.dynamics_label_refit
        return self.psd_label_true == self.psd_label_refit

    def to_dict(self) -> dict[str, Any]:
        hidden = {"weights", "alpha", "task", "seed", "observed", "network"}
        row = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in hidden}
        row["same_mechanism"] = self.same_mechanism
        return row


def observed_units(seed: int, n_units: int, fraction: float) -> np.ndarray:
    """The recorded units: a reproducible random `fraction` of n_units (at least one), sorted."""
    if not 0 < fraction <= 1:
        raise ValueError(f"observed_fraction must lie in (0, 1], got {fraction}")
    k = max(1, int(round(fraction * n_units)))
    return np.sort(np.random.default_rng([int(seed), 7]).choice(n_units, size=k, replace=False))


def _by_task(tasks: Sequence[Task]) -> dict[Task, list[int]]:
    groups: dict[Task, list[int]] = {}
    for m, task in enumerate(tasks):
        groups.setdefault(task, []).append(m)
    return groups


def _reference(weights: Weights, tasks: Sequence[Task], alpha: Sequence[float], seeds: Sequence[int]
               ) -> tuple[list[str], list[float]]:
    """The reference PSD test's modal label and median ratio of each network (rnnzoo.labels.mechanism_scores)."""
    labels, ratios = [""] * len(tasks), [float("nan")] * len(tasks)
    for task, members in _by_task(tasks).items():
        scores = mechanism_scores(weights.select(members), task, [alpha[m] for m in members],
                                  [seeds[m] for m in members])
        for k, m in enumerate(members):
            labels[m], ratios[m] = str(scores["psd_label"][k]), float(scores["psd_ratio"][k])
    return labels, ratios


def _classify(weights: Weights, tasks: Sequence[Task], alpha: Sequence[float], seeds: Sequence[int]
              ) -> tuple[list[str], list[bool]]:
    """rnnzoo.analysis.classify's dynamics_label and solves_task per network, judged on the canonical evaluation."""
    from rnnzoo.analysis.classify import diagnose

    labels, solves = [""] * len(tasks), [False] * len(tasks)
    for task, members in _by_task(tasks).items():
        frame, _ = diagnose(weights.select(members), task, [alpha[m] for m in members], [seeds[m] for m in members])
        for k, m in enumerate(members):
            labels[m], solves[m] = str(frame["dynamics_label"].iloc[k]), bool(frame["solves_task"].iloc[k])
    return labels, solves


def refit_networks(weights: Weights, tasks: Sequence[Task], alpha: Sequence[float], seeds: Sequence[int],
                   ids: Sequence[str], *, noise: float = 0.0, observed_fraction: float = 1.0, trials: int = 256,
                   process_noise: float = NOISE_STD, alpha_fit: float | Sequence[float] | None = None,
                   mechanism: bool = True, classifier: str = "analysis", **options: Any) -> list[RefitReport]:
    """Simulate M networks (one task each), refit them all in ONE batched CORNN call, and score each refit.

    Each network runs `trials` trials of its task from its ANALYSIS stream (pre-activation noise `process_noise`);
    `noise` is the std of Gaussian observation noise added to the recorded rates; a random `observed_fraction` of
    units is recorded. Every 5th trial is held out for the R^2 scores (against the recorded, noisy rates). alpha_fit:
    the alpha the refit assumes (default: the true one). mechanism=False skips the labels. classifier: "analysis"
    labels with rnnzoo.analysis.classify's rule, "psd" with the reference PSD test only (always computed).
    options go to rnnzoo.cornn.fit_weights (l2, outlier_threshold, self_connections, iterations, ...).
    """
    if classifier not in ("analysis", "psd"):
        raise ValueError(f"classifier must be 'analysis' or 'psd', got {classifier!r}")
    for name, value in (("noise", noise), ("process_noise", process_noise)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite standard deviation >= 0, got {value!r}")
    if isinstance(trials, bool) or not isinstance(trials, numbers.Integral) or trials < 1:
        raise ValueError(f"trials must be a whole number >= 1, got {trials!r}")
    M = weights.n_networks
    dev = weights.device
    per_class = max(1, math.ceil(trials / 2))
    sims = [run_task(weights.select(m), dataclasses.replace(tasks[m], trials_per_class=per_class), alpha[m],
                     [seeds[m]], stream=STREAM_ANALYSIS, noise_std=process_noise) for m in range(M)]
    lengths = [sim.rates.shape[2] for sim in sims]
    N = weights.n_units
    obs = [observed_units(seeds[m], N, observed_fraction) for m in range(M)]
    B = sims[0].rates.shape[1]
    held = torch.arange(B, device=dev) % HELD_OUT_EVERY == HELD_OUT_EVERY - 1
    recorded = []
    for m in range(M):
        r = sims[m].rates[0][:, :, torch.as_tensor(obs[m], device=dev)]
        if noise > 0:
            g = torch.Generator(device=dev)
            g.manual_seed(int(seeds[m]) * 1000 + 17)
            r = r + noise * torch.randn(r.shape, generator=g, device=dev, dtype=r.dtype)
            r = r.clamp(-1 + OBSERVATION_CLIP, 1 - OBSERVATION_CLIP)
        recorded.append(r)
    T_max = max(lengths)  # networks of different trial lengths share one batched fit, zero-padded

    def pad(t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(t, (0, 0, 0, T_max - t.shape[1]))

    train_r = torch.stack([pad(r[~held]) for r in recorded])
    train_u = torch.stack([pad(sim.inputs[0][~held]) for sim in sims])
    train_o = torch.stack([pad(sim.outputs[0][~held]) for sim in sims])
    fit_alpha = list(alpha) if alpha_fit is None else alpha_fit
    fitted, info = fit_weights(train_r, train_u, fit_alpha, outputs=train_o, lengths=lengths, **options)
    fit_alphas = torch.as_tensor(fit_alpha, dtype=torch.float64).reshape(-1).expand(M).tolist()
    if mechanism:
        ref_true, psd_true = _reference(weights, tasks, alpha, seeds)
        ref_refit, psd_refit = _reference(fitted, tasks, fit_alphas, seeds)
    else:
        ref_true = ref_refit = [""] * M
        psd_true = psd_refit = [float("nan")] * M
    dynamics_label_true = dynamics_label_refit = [""] * M
    solves_true = solves_refit = [None] * M
    if mechanism and classifier == "analysis":
        dynamics_label_true, solves_true = _classify(weights, tasks, alpha, seeds)
        dynamics_label_refit, solves_refit = _classify(fitted, tasks, fit_alphas, seeds)
    reports = []
    for m in range(M):
        one = fitted.select(m)
        r = recorded[m][held]
        u = sims[m].inputs[0][held]
        a = fit_alphas[m]
        nxt = step_map(one, r[:, :-1].reshape(1, -1, r.shape[-1]), a, u[:, :-1].reshape(1, -1, u.shape[-1]))
        one_step = float(r_squared(nxt, r[:, 1:].reshape(1, -1, r.shape[-1]))[0])
        with torch.no_grad():
            _, free = simulate(one, u, a, r0=r[:, 0].unsqueeze(0))
        free_r2 = float(r_squared(free[:, :, 1:], r[:, 1:].unsqueeze(0))[0])
        o = torch.as_tensor(obs[m], device=dev)
        corr = float(weight_correlation(one.W_rec, weights.W_rec[m][o][:, o].unsqueeze(0))[0])
        reports.append(RefitReport(
            id=str(ids[m]), weight_corr=corr, one_step_r2=one_step, free_running_r2=free_r2,
            dynamics_label_true=dynamics_label_true[m], dynamics_label_refit=dynamics_label_refit[m],
            solves_task_true=solves_true[m], solves_task_refit=solves_refit[m], psd_label_true=ref_true[m], psd_label_refit=ref_refit[m],
            psd_ratio_true=psd_true[m], psd_ratio_refit=psd_refit[m], observed_units=len(obs[m]), n_units=N,
            iterations=int(info.iterations[m]), converged=bool(info.converged[m]),
            diverged=bool(info.diverged[m]), l2=float(info.l2[m]),
            fit_seconds=info.seconds / M, weights=one, alpha=a, task=tasks[m], seed=int(seeds[m]),
            observed=obs[m].tolist()))
    return reports
