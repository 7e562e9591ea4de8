"""CORNN refit (arXiv 2311.10200): recover a leaky tanh RNN from its recorded rates by convex optimisation.

With x[t] = [r[t], u[t], 1] and the leak removed, d[t] = (r[t+1] - (1 - alpha) r[t]) / alpha should equal
tanh(x[t] theta) for weights theta [N + I + 1, N] (one column per neuron, the last row the bias). Each neuron's
problem is the convex loss

    sum_t  c[t] * CE((1 + d[t]) / 2, (1 + tanh(x[t] theta)) / 2) + lambda/2 |theta|^2,   c[t] = 1 / (1 - d[t]^2),

a cross-entropy weighted per time point so that its Hessian near the solution is x^T x + lambda I for EVERY
neuron: one factorisation of that matrix (per network) serves all N neurons. We minimise it by ADMM from the ridge
solution of atanh(d); each iteration is a Newton-like step on the weighted residual E = (d - tanh(x theta)) / (1 - d^2),
whose entries above `outlier_threshold` are dropped (robustness to noise). The recurrent weights can be masked
(e.g. no self-connections) through the ADMM split. Everything is batched over a leading network axis, so a whole
zoo refits in one call, on whatever device the rates are on.

Readout: `refit` fits W_out, b_out by least squares on logit(outputs) when outputs are given; without outputs the
readout is zero and the network's info says readout_refitted=False.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from rnnzoo.dynamics import NOISE_STD, STREAM_ANALYSIS, Weights, as_alpha, simulate, step_map
from rnnzoo.labels import mechanism_scores
from rnnzoo.simulation import run_task
from rnnzoo.zoo import Network

L2 = 1e-4  # ridge strength per time point: lambda = L2 * (number of transitions)
RHO_FACTOR = 100.0  # ADMM penalty rho = RHO_FACTOR * lambda
OUTLIER_THRESHOLD = 1.0  # weighted residuals above this are dropped; None keeps all (diverges on noisy rates)
ITERATIONS = 30
TOLERANCE = 5e-4  # stop when an iteration changes theta by less than this (relative); noisy fits run ~30
CLIP_EPS = 1e-6  # d is clipped to (-1 + CLIP_EPS, 1 - CLIP_EPS) before atanh
HELD_OUT_EVERY = 5  # net.refit holds out every 5th simulated trial for the R^2 scores


# ---------------------------------------------------------------------------------------------------------------
# The solver
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class SolverInfo:
    """What the solver did, per network where it varies."""

    iterations: int
    clipped: list[int]  # entries of d clipped into (-1, 1), per network
    outliers: list[int]  # residual entries dropped at the last iteration, per network
    seconds: float
    changes: list[float] = field(default_factory=list)  # relative change of theta at each ADMM iteration


def solve(x: torch.Tensor, d: torch.Tensor, n_samples: torch.Tensor, *, l2: float = L2,
          rho_factor: float = RHO_FACTOR, outlier_threshold: float | None = OUTLIER_THRESHOLD,
          iterations: int = ITERATIONS, tolerance: float = TOLERANCE, mask: torch.Tensor | None = None,
          progress: bool = False) -> tuple[torch.Tensor, list[int], list[float]]:
    """theta [M, D, N] minimising the weighted CORNN loss of x [M, S, D] -> d [M, S, N] (d already in (-1, 1)).

    Rows of x that are all zero (with d = 0) are padding and change nothing. n_samples [M]: real rows per network.
    mask [M or 1, D, N] (bool): entries of theta forced to zero (ADMM constraint). Returns (theta, outliers,
    relative change of theta per iteration).
    """
    M, S, D = x.shape
    dtype = x.dtype
    lam = (l2 * n_samples.to(torch.float64)).view(M, 1, 1)
    rho = rho_factor * lam
    # One factorisation per network, shared by its N neurons: the eigendecomposition of the Gram matrix gives
    # (G + c I)^-1 for the ridge start (c = lambda) and for every ADMM step (c = lambda + rho).
    gram = torch.matmul(x.transpose(1, 2), x).to(torch.float64)
    evals, evecs = torch.linalg.eigh(gram)

    def inverse_times(c: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        coeff = torch.matmul(evecs.transpose(1, 2), b.to(torch.float64)) / (evals.unsqueeze(-1) + c)
        return torch.matmul(evecs, coeff).to(dtype)

    target = torch.atanh(d)
    theta = inverse_times(lam, torch.matmul(x.transpose(1, 2), target))
    gram_dtype = gram.to(dtype)
    chi = theta.clone()
    v = torch.zeros_like(theta)
    if mask is not None:
        chi = chi.masked_fill(mask, 0.0)
    n_real = n_samples.to(dtype).view(M, 1, 1)
    neg_weight = -1.0 / (1.0 - d * d)  # the per-time-point weight 1 / (1 - d^2), negated to fuse (d - tanh) * w
    drop = None
    changes = []
    steps = range(iterations)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="CORNN ADMM", leave=False)
    for _ in steps:
        residual = torch.tanh_(torch.matmul(x, theta)).sub_(d).mul_(neg_weight)  # (d - tanh(x theta)) / (1 - d^2)
        if outlier_threshold is not None:
            low, high = torch.aminmax(residual)  # one pass: most iterations of clean data drop nothing
            drop = None
            if float(high) > outlier_threshold or float(low) < -outlier_threshold:
                drop = residual.abs() > outlier_threshold
                dropped = drop.sum(dim=1, keepdim=True).to(dtype)  # [M, 1, N]
                residual.masked_fill_(drop, 0.0).mul_(n_real / (n_real - dropped).clamp_min(1.0))
        rhs = torch.matmul(gram_dtype, theta).add_(torch.matmul(x.transpose(1, 2), residual))
        rhs.add_(rho.to(dtype) * (chi - v))
        new_theta = inverse_times(lam + rho, rhs)
        changes.append(float((new_theta - theta).norm() / theta.norm().clamp_min(1e-12)))
        theta = new_theta
        chi = theta + v
        if mask is not None:
            chi = chi.masked_fill(mask, 0.0)
        v = v + theta - chi
        if changes[-1] < tolerance:
            break
    outliers = [0] * M if drop is None else drop.sum(dim=(1, 2)).tolist()
    return chi, outliers, changes


# ---------------------------------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------------------------------
def _as_tensor(value: Any, name: str, device: torch.device | None) -> torch.Tensor:
    t = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
    if not torch.is_floating_point(t):
        t = t.to(torch.float32)
    if device is not None:
        t = t.to(device)
    if not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite values; remove or interpolate them before refitting")
    return t


def _stack(t: torch.Tensor, name: str, width_name: str) -> tuple[torch.Tensor, int]:
    """t as [M, B, T, W] plus its original rank (2: [T, W], 3: [B, T, W], 4: [M, B, T, W])."""
    if t.ndim == 2:
        return t.unsqueeze(0).unsqueeze(0), 2
    if t.ndim == 3:
        return t.unsqueeze(0), 3
    if t.ndim == 4:
        return t, 4
    raise ValueError(f"{name} must be [T, {width_name}], [trials, T, {width_name}] or [networks, trials, T, "
                     f"{width_name}], got shape {tuple(t.shape)}")


def design(rates: torch.Tensor, inputs: torch.Tensor | None, alpha: torch.Tensor, clip_eps: float = CLIP_EPS
           ) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """(x [M, S, N + I + 1], d [M, S, N], clipped per network) from rates [M, B, T, N] and inputs [M, B, T, I].

    Transitions never cross trials: x[t] = [r[t], u[t], 1], d[t] = (r[t+1] - (1 - alpha) r[t]) / alpha.
    """
    M, B, T, N = rates.shape
    a = alpha.view(M, 1, 1, 1).to(rates.dtype)
    d = (rates[:, :, 1:] - (1 - a) * rates[:, :, :-1]) / a
    parts = [rates[:, :, :-1]]
    if inputs is not None:
        parts.append(inputs[:, :, :-1].to(rates.dtype))
    parts.append(torch.ones(M, B, T - 1, 1, dtype=rates.dtype, device=rates.device))
    x = torch.cat(parts, dim=-1).reshape(M, B * (T - 1), -1)
    d = d.reshape(M, B * (T - 1), N)
    limit = 1.0 - clip_eps
    outside = (d.abs() > limit)
    clipped = outside.sum(dim=(1, 2)).tolist()
    if sum(clipped):
        warnings.warn(f"{sum(clipped)} of {d.numel()} leak-corrected rates d = (r[t+1] - (1 - alpha) r[t]) / alpha "
                      f"lie outside (-1, 1) and were clipped to +-{limit} (per network: {clipped[:8]}); many clipped "
                      "entries mean noisy rates or a wrong alpha", RuntimeWarning, stacklevel=3)
        d = d.clamp(-limit, limit)
    return x, d, clipped


def fit_weights(rates: torch.Tensor, inputs: torch.Tensor | None, alpha: float | Sequence[float] | torch.Tensor, *,
                outputs: torch.Tensor | None = None, n_outputs: int = 2, l2: float = L2,
                rho_factor: float = RHO_FACTOR, outlier_threshold: float | None = OUTLIER_THRESHOLD,
                iterations: int = ITERATIONS, tolerance: float = TOLERANCE, mask_self: bool = False,
                clip_eps: float = CLIP_EPS, device: str | torch.device | None = None, progress: bool = False
                ) -> tuple[Weights, SolverInfo]:
    """Batched CORNN: stacked Weights [M, ...] fitted to rates [M, B, T, N] (inputs [M, B, T, I] or None).

    outputs [M, B, T, O]: when given, W_out and b_out are fitted by least squares on logit(outputs); else zero.
    """
    start = time.perf_counter()
    rates = _as_tensor(rates, "rates", torch.device(device) if device else None)
    dev = rates.device
    rates, _ = _stack(rates, "rates", "N")
    if not torch.is_floating_point(rates) or rates.dtype == torch.float16:
        rates = rates.to(torch.float32)
    M, B, T, N = rates.shape
    if inputs is not None:
        inputs = _as_tensor(inputs, "inputs", dev).to(rates.dtype)
        inputs, _ = _stack(inputs, "inputs", "I")
        if inputs.shape[0] == 1 and M > 1:
            inputs = inputs.expand(M, -1, -1, -1)
        if inputs.shape[:3] != rates.shape[:3]:
            raise ValueError(f"inputs {tuple(inputs.shape)} do not match rates {tuple(rates.shape)}: give one input "
                             "vector per recorded time point (same networks, trials and time steps)")
    alpha_t = as_alpha(alpha, M, rates)
    I = 0 if inputs is None else inputs.shape[-1]
    S = B * (T - 1)
    D = N + I + 1
    if T < 2:
        raise ValueError(f"rates have {T} time point(s) per trial; CORNN needs pairs r[t], r[t+1]: record at least 2")
    if S < D:
        raise ValueError(f"{S} transitions (trials x (T - 1)) are too few to fit {D} weights per neuron "
                         f"({N} units + {I} inputs + bias); record at least {D} transitions (more time points or "
                         "trials) or fit fewer units")
    if rates.abs().max() >= 1:
        raise ValueError(f"rates must lie in (-1, 1) (tanh units); got values up to {float(rates.abs().max()):.3g}. "
                         "Rescale recordings into (-1, 1) before refitting")
    x, d, clipped = design(rates, inputs, alpha_t, clip_eps)
    mask = None
    if mask_self:
        mask = torch.zeros(1, D, N, dtype=torch.bool, device=dev)
        mask[0, torch.arange(N), torch.arange(N)] = True
    n_samples = torch.full((M,), S, device=dev)
    theta, outliers, changes = solve(x, d, n_samples, l2=l2, rho_factor=rho_factor,
                                     outlier_threshold=outlier_threshold, iterations=iterations,
                                     tolerance=tolerance, mask=mask, progress=progress)
    W_rec = theta[:, :N, :].transpose(1, 2).contiguous()
    W_in = theta[:, N:N + I, :].transpose(1, 2).contiguous() if I else torch.zeros(M, N, 1, dtype=rates.dtype,
                                                                                      device=dev)
    b_rec = theta[:, -1, :].contiguous()
    W_out, b_out = fit_readout(rates, outputs, n_outputs, l2)
    weights = Weights(W_in=W_in, b_in=torch.zeros_like(b_rec), W_rec=W_rec, b_rec=b_rec, W_out=W_out, b_out=b_out)
    info = SolverInfo(iterations=len(changes), clipped=clipped, outliers=outliers,
                      seconds=time.perf_counter() - start, changes=changes)
    return weights, info


def fit_readout(rates: torch.Tensor, outputs: torch.Tensor | None, n_outputs: int, l2: float = L2,
                eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """(W_out [M, O, N], b_out [M, O]) by ridge least squares on logit(outputs), or zeros when outputs is None."""
    M, B, T, N = rates.shape
    if outputs is None:
        return (torch.zeros(M, n_outputs, N, dtype=rates.dtype, device=rates.device),
                torch.zeros(M, n_outputs, dtype=rates.dtype, device=rates.device))
    outputs = _as_tensor(outputs, "outputs", rates.device).to(rates.dtype)
    outputs, _ = _stack(outputs, "outputs", "O")
    if outputs.shape[:3] != rates.shape[:3]:
        raise ValueError(f"outputs {tuple(outputs.shape)} do not match rates {tuple(rates.shape)}: give one output "
                         "vector per recorded time point")
    if bool(((outputs <= 0) | (outputs >= 1)).any()):
        warnings.warn("outputs outside (0, 1) were clipped before the logit: the readout is sigmoid(W_out r + b_out)",
                      RuntimeWarning, stacklevel=3)
    y = torch.logit(outputs.clamp(eps, 1 - eps)).reshape(M, B * T, -1).to(torch.float64)
    x = torch.cat([rates, torch.ones_like(rates[..., :1])], dim=-1).reshape(M, B * T, N + 1).to(torch.float64)
    gram = x.transpose(1, 2) @ x + l2 * B * T * torch.eye(N + 1, dtype=torch.float64, device=x.device)
    w = torch.linalg.solve(gram, x.transpose(1, 2) @ y)  # [M, N + 1, O]
    return w[:, :N].transpose(1, 2).to(rates.dtype).contiguous(), w[:, N].to(rates.dtype).contiguous()


def refit(rates: Any, inputs: Any = None, alpha: float | Sequence[float] | torch.Tensor = 0.5, *,
          outputs: Any = None, **options: Any) -> Network | list[Network]:
    """Fit a leaky tanh RNN to recorded rates with CORNN; returns a Network (a list of them for [M, B, T, N] rates).

    rates: [T, N], [trials, T, N] or [networks, trials, T, N] in (-1, 1); inputs: the same with I channels (None:
    no inputs); alpha = dt / tau of the model (one value or one per network); outputs (optional, same layout with O
    channels, in (0, 1)) to fit the readout. Options: l2, rho_factor, outlier_threshold (pick it by noise level: 0.5-1
    did best on zoo networks at noise 0.01-0.02; None keeps every residual), iterations, tolerance, mask_self,
    clip_eps, device, n_outputs.
    """
    rank = rates.ndim if hasattr(rates, "ndim") else np.asarray(rates).ndim
    weights, info = fit_weights(rates, inputs, alpha, outputs=outputs, **options)
    alphas = as_alpha(alpha, weights.n_networks, weights.W_rec).tolist()
    networks = []
    for m in range(weights.n_networks):
        one = weights.select(m)
        net = Network.from_weights(W_rec=one.W_rec[0].cpu(), W_in=one.W_in[0].cpu(), W_out=one.W_out[0].cpu(),
                                   b_rec=one.b_rec[0].cpu(), b_in=one.b_in[0].cpu(), b_out=one.b_out[0].cpu(),
                                   alpha=alphas[m])
        net._weights = one  # keep the device the fit ran on
        net.info["id"] = "refit"
        net.info["family"] = "refit"
        net.info["readout_refitted"] = outputs is not None
        net.info["refit_clipped"] = int(info.clipped[m])
        net.info["refit_outliers"] = int(info.outliers[m])
        net.info["refit_seconds"] = info.seconds
        networks.append(net)
    return networks if rank == 4 else networks[0]


# ---------------------------------------------------------------------------------------------------------------
# Refit reports: simulate a known network, refit it, score the refit
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class RefitReport:
    """How well CORNN recovered one network from its simulated activity."""

    id: str
    weight_corr: float  # Pearson correlation of refit and true W_rec on the observed units
    one_step_r2: float  # held-out trials, r[t+1] predicted from the recorded r[t]
    free_running_r2: float  # held-out trials, refit network run from the recorded r[0] with the recorded inputs
    mechanism_true: str  # label of the true network: rnnzoo.analysis.classify when installed, else the PSD test
    mechanism_refit: str  # the same classifier on the refit network
    psd_label_true: str  # the reference PSD test (rnnzoo.labels.mechanism_scores) on the true network
    psd_label_refit: str
    psd_ratio_true: float
    psd_ratio_refit: float
    observed_units: int
    n_units: int
    fit_seconds: float
    network: Network = field(repr=False)

    @property
    def same_mechanism(self) -> bool:
        return self.mechanism_true == self.mechanism_refit

    def to_dict(self) -> dict[str, Any]:
        row = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "network"}
        row["same_mechanism"] = self.same_mechanism
        return row


def r_squared(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """R^2 per network of predictions of true [M, ..., N]: 1 - SSE / total variance about each unit's mean."""
    M = true.shape[0]
    p, t = pred.reshape(M, -1, true.shape[-1]), true.reshape(M, -1, true.shape[-1])
    sse = ((p - t) ** 2).sum(dim=(1, 2))
    sst = ((t - t.mean(dim=1, keepdim=True)) ** 2).sum(dim=(1, 2)).clamp_min(1e-12)
    return 1 - sse / sst


def weight_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of the entries of a and b per network, [M] (a, b: [M, ...])."""
    a, b = a.reshape(a.shape[0], -1).to(torch.float64), b.reshape(b.shape[0], -1).to(torch.float64)
    a, b = a - a.mean(dim=1, keepdim=True), b - b.mean(dim=1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-300)


def _observed(seed: int, n_units: int, fraction: float) -> np.ndarray:
    if not 0 < fraction <= 1:
        raise ValueError(f"observed_fraction must lie in (0, 1], got {fraction}")
    k = max(1, int(round(fraction * n_units)))
    return np.sort(np.random.default_rng([int(seed), 7]).choice(n_units, size=k, replace=False))


def _mechanisms(weights: Weights, tasks: Sequence, alpha: Sequence[float], seeds: Sequence[int]
                ) -> tuple[list[str], list[float]]:
    """The PSD-test mechanism and ratio of each network (rnnzoo.labels.mechanism_scores), batched per task."""
    labels, ratios = [""] * len(tasks), [0.0] * len(tasks)
    groups: dict = {}
    for m, task in enumerate(tasks):
        groups.setdefault(task, []).append(m)
    for task, members in groups.items():
        scores = mechanism_scores(weights.select(members), task, [alpha[m] for m in members],
                                  [seeds[m] for m in members])
        for k, m in enumerate(members):
            labels[m], ratios[m] = str(scores["mechanism"][k]), float(scores["psd_ratio"][k])
    return labels, ratios


def _network(weights: Weights, alpha: float, task, seed: int, name: str) -> Network:
    """A Network (for reports and classify) from a stack of one network and its task."""
    fields = {k: v for k, v in dataclasses.asdict(task).items() if k not in ("delay_ms", "trials_per_class")}
    net = Network.from_weights(**{k: v[0].detach().cpu() for k, v in weights.tensors().items()}, alpha=float(alpha),
                               delay_ms=task.delay_ms, seed=int(seed), **fields)
    net._weights = weights
    net.info["id"] = name
    net.info["family"] = "refit" if name.endswith("refit") else "custom"
    return net


def _classify(networks: list[Network]) -> list[str]:
    """rnnzoo.analysis.classify labels of `networks` (judged by their canonical evaluation)."""
    from rnnzoo.analysis import classify

    table = classify(networks, use_curves=False, progress=False)
    return [str(v) for v in table["label"]]


def refit_networks(weights: Weights, tasks: Sequence, alpha: Sequence[float], seeds: Sequence[int], ids: Sequence[str],
                   *, noise: float = 0.0, observed_fraction: float = 1.0, trials: int = 256,
                   process_noise: float = NOISE_STD, alpha_fit: float | Sequence[float] | None = None,
                   mechanism: bool = True, classifier: str = "analysis", **options: Any) -> list[RefitReport]:
    """Simulate M networks (one task each), refit them all in ONE batched CORNN call, and score each refit.

    Each network runs `trials` trials of its task from its ANALYSIS stream (process noise `process_noise`);
    `noise` is the std of Gaussian observation noise added to the recorded rates; a random `observed_fraction` of
    units is recorded (the same count per network). Every 5th trial is held out for the R^2 scores. alpha_fit: the
    alpha the refit assumes (default: the true one). mechanism=False skips the labels (left empty).
    classifier: "analysis" labels with rnnzoo.analysis.classify (use_curves=False, the same rule for true and refit
    networks) when that module is installed, "psd" with the reference PSD test only; the PSD labels are always kept.
    """
    M = weights.n_networks
    dev = weights.device
    per_class = max(1, math.ceil(trials / 2))
    rates_list, inputs_list, outputs_list, lengths = [], [], [], []
    for m in range(M):
        task = dataclasses.replace(tasks[m], trials_per_class=per_class)
        sim = run_task(weights.select(m), task, alpha[m], [seeds[m]], stream=STREAM_ANALYSIS, noise_std=process_noise)
        rates_list.append(sim.rates[0])
        inputs_list.append(sim.inputs)
        outputs_list.append(sim.outputs[0])
        lengths.append(sim.rates.shape[2])
    N = weights.n_units
    obs = [_observed(seeds[m], N, observed_fraction) for m in range(M)]
    B = rates_list[0].shape[0]
    held = torch.arange(B, device=dev) % HELD_OUT_EVERY == HELD_OUT_EVERY - 1
    rates_obs = []
    for m in range(M):
        r = rates_list[m][:, :, torch.as_tensor(obs[m], device=dev)]
        if noise > 0:
            g = torch.Generator(device=dev)
            g.manual_seed(int(seeds[m]) * 1000 + 17)
            r = r + noise * torch.randn(r.shape, generator=g, device=dev, dtype=r.dtype)
            r = r.clamp(-1 + 1e-4, 1 - 1e-4)
        rates_obs.append(r)
    # Networks of different task lengths share one batched solve: pad trials with zero rows (no effect on the fit).
    T_max = max(lengths)

    def pad(t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(t, (0, 0, 0, T_max - t.shape[1]))

    train_r = torch.stack([pad(r[~held]) for r in rates_obs])
    train_u = torch.stack([pad(u[~held]) for u in inputs_list])
    train_o = torch.stack([pad(o[~held]) for o in outputs_list])
    fit_alpha = alpha if alpha_fit is None else alpha_fit
    start = time.perf_counter()
    if len(set(lengths)) == 1:
        fitted, info = fit_weights(train_r, train_u, fit_alpha, outputs=train_o, **options)
    else:
        fitted, info = _fit_padded(train_r, train_u, train_o, lengths, fit_alpha, **options)
    seconds = time.perf_counter() - start
    fit_alphas = as_alpha(fit_alpha, M, fitted.W_rec)
    # Scores on the held-out trials, with the one definition of the dynamics.
    reports = []
    if mechanism:
        true_psd_label, true_psd = _mechanisms(weights, tasks, alpha, seeds)
        refit_psd_label, refit_psd = _mechanisms(fitted, tasks, fit_alphas.tolist(), seeds)
    else:
        true_psd_label = refit_psd_label = [""] * M
        true_psd = refit_psd = [float("nan")] * M
    refit_nets = [_network(fitted.select(m), float(fit_alphas[m]), tasks[m], seeds[m], f"{ids[m]}-refit")
                  for m in range(M)]
    true_mech, refit_mech = true_psd_label, refit_psd_label
    if mechanism and classifier == "analysis":
        labels = _classify([_network(weights.select(m), alpha[m], tasks[m], seeds[m], ids[m]) for m in range(M)]
                           + refit_nets)
        true_mech, refit_mech = labels[:M], labels[M:]
    for m in range(M):
        one = fitted.select(m)
        r = rates_obs[m][held]
        u = inputs_list[m][held]
        a = float(fit_alphas[m])
        nxt = step_map(one, r[:, :-1].reshape(1, -1, r.shape[-1]), a, u[:, :-1].reshape(1, -1, u.shape[-1]))
        one_step = float(r_squared(nxt, r[:, 1:].reshape(1, -1, r.shape[-1]))[0])
        with torch.no_grad():
            _, free = simulate(one, u, a, r0=r[:, 0].unsqueeze(0))
        free_r2 = float(r_squared(free[:, :, 1:], r[:, 1:].unsqueeze(0))[0])
        o = torch.as_tensor(obs[m], device=dev)
        corr = float(weight_correlation(one.W_rec, weights.W_rec[m][o][:, o].unsqueeze(0))[0])
        net = refit_nets[m]
        net.info["readout_refitted"] = True
        net.info["observed_units"] = obs[m].tolist()
        reports.append(RefitReport(id=str(ids[m]), weight_corr=corr, one_step_r2=one_step, free_running_r2=free_r2,
                                   mechanism_true=str(true_mech[m]), mechanism_refit=str(refit_mech[m]),
                                   psd_label_true=true_psd_label[m], psd_label_refit=refit_psd_label[m],
                                   psd_ratio_true=true_psd[m], psd_ratio_refit=refit_psd[m],
                                   observed_units=len(obs[m]), n_units=N,
                                   fit_seconds=seconds / M, network=net))
    return reports


def _fit_padded(rates, inputs, outputs, lengths, alpha, **options):
    """fit_weights for networks whose trials have different lengths (zero-padded to the longest)."""
    M, B, T, N = rates.shape
    a = as_alpha(alpha, M, rates)
    x, d, _ = design(rates, inputs, a, options.get("clip_eps", CLIP_EPS))
    # Rows past each network's own trial end are padding: zero them (x = 0, d = 0 contribute nothing).
    valid = torch.zeros(M, B, T - 1, dtype=torch.bool, device=rates.device)
    for m, length in enumerate(lengths):
        valid[m, :, : length - 1] = True
    valid = valid.reshape(M, -1, 1)
    x, d = x * valid, d * valid
    n_samples = torch.tensor([B * (length - 1) for length in lengths], device=rates.device)
    solver_keys = ("l2", "rho_factor", "outlier_threshold", "iterations", "tolerance")
    theta, outliers, changes = solve(x, d, n_samples, **{k: v for k, v in options.items() if k in solver_keys})
    I = inputs.shape[-1]
    W_out, b_out = [], []
    for m, length in enumerate(lengths):
        w, b = fit_readout(rates[m:m + 1, :, :length], outputs[m:m + 1, :, :length], outputs.shape[-1])
        W_out.append(w)
        b_out.append(b)
    weights = Weights(W_in=theta[:, N:N + I].transpose(1, 2).contiguous(), b_in=torch.zeros(M, N, dtype=rates.dtype,
                      device=rates.device), W_rec=theta[:, :N].transpose(1, 2).contiguous(),
                      b_rec=theta[:, -1].contiguous(), W_out=torch.cat(W_out), b_out=torch.cat(b_out))
    return weights, SolverInfo(len(changes), [0] * M, outliers, 0.0, changes)


def refit_report(net: Network, *, noise: float = 0.0, observed_fraction: float = 1.0, trials: int = 256,
                 device: str | torch.device | None = None, **options: Any) -> RefitReport:
    """Simulate `net` on its task, refit it with CORNN and report weight correlation, R^2 and mechanism."""
    weights = net.weights.to(device) if device else net.weights
    return refit_networks(weights, [net.task()], [float(net.info["alpha"])], [int(net.info["seed"])],
                          [str(net.info["id"])], noise=noise, observed_fraction=observed_fraction, trials=trials,
                          **options)[0]


def refit_zoo(zoo, *, noise: float = 0.0, observed_fraction: float = 1.0, trials: int = 256,
              device: str | torch.device | None = None, **options: Any) -> pd.DataFrame:
    """Refit every network of a zoo in one batched CORNN call; one row per network (the refit in column 'refit')."""
    if not len(zoo):
        raise ValueError("this zoo is empty: there is nothing to refit")
    meta = zoo.metadata
    weights = zoo.weights(device)
    tasks = zoo.tasks()
    reports = refit_networks(weights, tasks, meta["alpha"].astype(float).tolist(), meta["seed"].astype(int).tolist(),
                             meta["id"].astype(str).tolist(), noise=noise, observed_fraction=observed_fraction,
                             trials=trials, **options)
    table = pd.DataFrame([r.to_dict() for r in reports])
    table["mechanism_stored"] = meta["mechanism"].to_numpy()
    table["refit"] = [r.network for r in reports]
    return table

