"""CORNN (arXiv 2311.10200): recover a leaky tanh RNN's weights from its recorded rates by convex optimisation.

Plain math on tensors: this module knows nothing of zoos, tasks or Networks (rnnzoo.refitting and rnnzoo.zoo build
those on top of it). It imports only torch, numpy and rnnzoo.dynamics.

With x[t] = [r[t], u[t], 1] and the leak removed, d[t] = (r[t+1] - (1 - alpha) r[t]) / alpha should equal
tanh(x[t] theta) for weights theta [N + I + 1, N] (one column per neuron, the last row the bias). Each neuron's
problem is the convex loss

    sum_t  c[t] * CE((1 + d[t]) / 2, (1 + tanh(x[t] theta)) / 2) + lambda/2 |theta|^2,   c[t] = 1 / (1 - d[t]^2),

a cross-entropy weighted per time point so that its Hessian near the solution is x^T x + lambda I for EVERY
neuron: one factorisation of that matrix (per network) serves all N neurons. It is minimised by ADMM; each
iteration is a Newton-like step on the weighted residual E = (d - tanh(x theta)) / (1 - d^2), whose entries above
`outlier_threshold` are dropped (robustness to noise). Weights outside a connectivity mask (by default the
self-connections of noisy recordings) are held at zero through the ADMM split. Everything is batched over a leading
network axis, and each network stops on its own when its predictions x theta stop changing.

Saturated units are data: rates inside [-1, 1] are used as they are; d is computed and clipped in float64, carried
as 1 - |d| so that float32 resolves it, and a target clipped at saturation is censored (a bound on |tanh(x theta)|,
not a value).

The defaults keep the published solver's outlier threshold (1) and ADMM penalty (rho = 100 lambda); four choices
are made per network from the noise of d it measures first (auto_l2): the ridge (l2), the stopping tolerance, the
start (ridge at lambda on clean, mostly unsaturated recordings, the published ridge at lambda + rho otherwise) and
whether the self-connections are fitted (clean) or held at zero (noisy, as the published solver always does). A
fit that diverges is stopped and reported. Measured against the published solver in benchmarks/bench_refit.py
(tables and the list of differences in docs/refit.md).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from rnnzoo.dynamics import Weights

L2_PROBE = 1e-6  # the nearly unregularised ridge fit that measures the noise of d (auto l2)
L2_PER_VARIANCE = 4e-3  # auto l2 = L2_PER_VARIANCE * noise_d^2 ...
L2_PER_RATE_VARIANCE = 0.4  # ... or L2_PER_RATE_VARIANCE * u * noise_r^2 where larger: noise_r the noise of the
# rates implied by noise_d (noise_d * alpha / sqrt(1 + (1 - alpha)^2)), u the share of directions the recording
# barely explores (Gram eigenvalue under 2 n noise_r^2). Observation noise in the regressors themselves needs this
# ridge on recordings that explore few directions (the zoo's trained networks), not on rich ones (random chaotic
# teachers); measured in bench_refit --parts trained and compare
L2_MIN, L2_MAX = 1e-4, 1e-3  # ... within these bounds (below 1e-4, poorly excited recordings free-run badly)
CLEAN_NOISE_D = 5e-3  # below this measured noise of d a recording counts as clean (start, self-connections)
RHO_FACTOR = 100.0  # ADMM penalty rho = RHO_FACTOR * lambda (the published solver's value)
ITERATIONS = 300  # upper bound; each network stops when its predictions' relative change falls under `tolerance`
TOLERANCE = 1e-4  # relative change of a network's predictions x theta per iteration below which it has converged
TOLERANCE_PER_VARIANCE = 3e-2  # tolerance="auto": TOLERANCE_PER_VARIANCE * noise_d^2 within [TOLERANCE, 1e-2]:
# noisy fits stop earlier, which regularises them (iterating on to 1e-4 fits the noise; measured in bench_refit)
RATE_LIMIT = 1.0  # tanh units' rates lie in [-1, 1]: rates beyond are clipped to it, with a warning; rates inside
# are kept as they are, saturated ones (|r| near 1) included: they are information, and d is clipped instead
SHOWN = 8  # networks listed by name in a warning (the count of the rest is given)
OUTLIER_THRESHOLD = 1.0  # weighted residuals above this are dropped (the published value; lower is unsafe, see README)
CLIP_EPS = 1e-6  # d is clipped to (-1 + CLIP_EPS, 1 - CLIP_EPS) before atanh (the published value); d, its clip
# and atanh(d) are computed in float64 whatever the working dtype, and the solver carries 1 - |d| rather than d, so
# a float32 fit resolves targets this close to +-1
CENSORED_SHARE = 0.05  # the noise of d is measured on neurons with at most this share of censored targets
DIVERGENCE = 10.0  # a fit whose predictions' RMS exceeds DIVERGENCE x max(1, RMS of its start's) has diverged
DTYPES = (torch.float32, torch.float64)  # the working precisions the solver supports
START = "auto"  # "admm": ridge at lambda + rho, the published start (safe on noise); "ridge": ridge at lambda (near
# the answer on clean recordings, so few iterations; bad on noisy ones); "auto": "ridge" where the measured noise of d
# is under CLEAN_NOISE_D and under START_CENSORED of the targets are censored, else "admm"
START_CENSORED = 0.02  # a ridge fit of atanh(d) is biased by censored (saturated) targets: above this share of
# them the published start is the better one (measured on the sample's saturated networks in bench_refit --parts trained)


def implied_noise_d(noise: float, alpha: torch.Tensor) -> torch.Tensor:
    """The std of d implied by observation noise of std `noise` on the rates, per network ([M, N] alpha -> [M]):
    d = (r[t+1] - (1 - alpha) r[t]) / alpha carries noise * sqrt(1 + (1 - alpha)^2) / alpha."""
    if noise < 0:
        raise ValueError(f"noise is the std of the observation noise and cannot be negative, got {noise}")
    a = alpha.to(torch.float64)
    return (noise * torch.sqrt(1 + (1 - a) ** 2) / a).pow(2).mean(dim=1).sqrt()


@dataclass
class FitInfo:
    """What the solver did, per network: whether it converged or diverged, in how many iterations, what it clipped."""

    iterations: list[int]  # ADMM iterations run, per network
    converged: list[bool]  # met its stopping rule (relative change of its predictions under its tolerance) and
    # did not diverge
    diverged: list[bool]  # its weights became non-finite or its predictions ran away (see DIVERGENCE)
    last_change: list[float]  # relative change of the predictions x theta at the last iteration
    clipped_rates: list[int]  # recorded rates outside [-1, 1] clipped into it
    clipped: list[int]  # leak-corrected targets d clipped into (-1 + clip_eps, 1 - clip_eps)
    outliers: list[int]  # weighted residuals dropped at the last iteration
    l2: list[float]  # the ridge strength each network was fitted with
    noise_d: list[float]  # RMS noise of the targets d, measured first (it sets every "auto" choice)
    self_connections: list[bool]  # whether W_rec's diagonal was fitted (else held at zero)
    tolerance: list[float]  # the stopping tolerance each network was held to
    seconds: float
    options: dict[str, Any] = field(default_factory=dict)  # the settings the fit ran with

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------------------------
# The solver
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class Targets:
    """The leak-corrected targets d [M, S, N] in the forms the solver uses, each computed in float64 from d and then
    stored in the working dtype: near |d| = 1 float32 cannot hold d itself precisely (1 - 1e-7 is not a float32),
    but it holds 1 - |d| and the weight 1 / (1 - d^2) to full relative precision."""

    z: torch.Tensor  # atanh(d), what the ridge start fits
    sign: torch.Tensor  # sign of d (+1 where d = 0)
    gap: torch.Tensor  # 1 - |d|
    signed_weight: torch.Tensor  # sign(d) / (1 - d^2), the residual's per-time-point weight with d's sign
    censored: torch.Tensor | None = None  # bool: d was clipped at saturation, so it says only |tanh| >= |d|

    @classmethod
    def from_d(cls, d: torch.Tensor, dtype: torch.dtype, censored: torch.Tensor | None = None) -> "Targets":
        """Targets from d (float64, already inside (-1, 1))."""
        sign = torch.where(d < 0, -1.0, 1.0).to(torch.float64)
        gap = 1.0 - d.abs()
        weight = 1.0 / (gap * (2.0 - gap))  # 1 / (1 - d^2) without forming d^2 near 1
        if censored is not None and not bool(censored.any()):
            censored = None
        return cls(torch.atanh(d).to(dtype), sign.to(dtype), gap.to(dtype), (sign * weight).to(dtype), censored)

    def select(self, keep: torch.Tensor) -> "Targets":
        return Targets(self.z[keep], self.sign[keep], self.gap[keep], self.signed_weight[keep],
                       None if self.censored is None else self.censored[keep])

    def shortfall(self, pre: torch.Tensor) -> torch.Tensor:
        """|d| - sign(d) tanh(pre), computed as 2 sigmoid(-2 sign(d) pre) - (1 - |d|) so that it keeps its
        precision where d and tanh(pre) are both near +-1 (the plain difference cancels to nothing in float32);
        zero where d is censored and the prediction goes at least as far."""
        core = torch.sigmoid(pre * self.sign * -2.0).mul_(2.0).sub_(self.gap)
        if self.censored is not None:
            core = torch.where(self.censored, core.clamp(min=0.0), core)
        return core


def target_residual(pre: torch.Tensor, t: Targets) -> torch.Tensor:
    """d - tanh(pre), precise near saturation and zero past a censored target (see Targets.shortfall)."""
    return t.shortfall(pre).mul_(t.sign)


def weighted_residual(pre: torch.Tensor, t: Targets) -> torch.Tensor:
    """CORNN's residual E = (d - tanh(pre)) / (1 - d^2), precise near saturation (see Targets.shortfall)."""
    return t.shortfall(pre).mul_(t.signed_weight)


@dataclass
class _Solve:
    theta: torch.Tensor
    iterations: list[int]
    converged: list[bool]
    diverged: list[bool]
    last_change: list[float]
    outliers: list[int]
    l2: list[float]
    noise_d: list[float]
    self_connections: list[bool]
    tolerance: list[float]


def solve(x: torch.Tensor, t: Targets, n_samples: torch.Tensor, *, l2: float | str,
          rho_factor: float = RHO_FACTOR, outlier_threshold: float | None = 1.0, iterations: int = ITERATIONS,
          tolerance: float | str = "auto", mask: torch.Tensor | None = None, start: str = START,
          noise_floor: torch.Tensor | None = None, self_connections: bool | str = True,
          rate_per_d: torch.Tensor | None = None) -> _Solve:
    """theta [M, D, N] minimising the weighted CORNN loss of x [M, S, D] -> targets t (d in (-1, 1), [M, S, N]).

    Rows of x that are all zero (with d = 0) are padding and change nothing; n_samples [M] counts the real rows.
    mask [M or 1, D, N] (bool): entries of theta held at zero; self_connections=False adds the diagonal to it,
    "auto" only for networks whose measured noise_d is at least CLEAN_NOISE_D. rate_per_d [M]: the rates' noise per
    unit noise of d (from alpha; see auto_l2). Each network leaves the iteration
    when the relative change of its predictions, ||x theta_new - x theta|| / ||x theta||, falls under `tolerance`
    (converged), or when it diverges (non-finite weights, or predictions whose RMS exceeds DIVERGENCE times the
    start's); the others go on.
    """
    if start not in ("admm", "ridge", "auto"):
        raise ValueError(f"start must be 'admm' (ridge at lambda + rho, the published start), 'ridge' (ridge at "
                         f"lambda) or 'auto', got {start!r}")
    M, S, D = x.shape
    N = t.z.shape[-1]
    dtype = x.dtype
    n64 = n_samples.to(torch.float64).view(M, 1, 1)
    # One factorisation per network, shared by its N neurons: the eigendecomposition of the Gram matrix gives
    # (G + c I)^-1 for the start and for every ADMM step (c = lambda + rho).
    gram = torch.matmul(x.transpose(1, 2), x).to(torch.float64)
    evals, evecs = torch.linalg.eigh(gram)

    def inverse_times(c: torch.Tensor, b: torch.Tensor, vals: torch.Tensor, vecs: torch.Tensor) -> torch.Tensor:
        coeff = torch.matmul(vecs.transpose(1, 2), b.to(torch.float64)) / (vals.unsqueeze(-1) + c)
        return torch.matmul(vecs, coeff).to(dtype)

    xz = torch.matmul(x.transpose(1, 2).to(torch.float64), t.z.to(torch.float64))
    l2_t, noise_d = auto_l2(x, t, xz, n64, evals, lambda c, b: inverse_times(c, b, evals, evecs), noise_floor,
                            rate_per_d)
    if l2 != "auto":
        l2_t = torch.full((M,), float(l2), dtype=torch.float64, device=x.device)
    clean = noise_d < CLEAN_NOISE_D
    diagonal = torch.ones(M, dtype=torch.bool, device=x.device) if self_connections is True else (
        torch.zeros(M, dtype=torch.bool, device=x.device) if self_connections is False else clean)
    if not bool(diagonal.all()):  # hold the self-connections of the other networks at zero
        eye = torch.zeros(M, D, N, dtype=torch.bool, device=x.device)
        eye[:, torch.arange(N), torch.arange(N)] = True
        eye &= ~diagonal.view(M, 1, 1)
        mask = eye if mask is None else (mask | eye)
    if tolerance == "auto":
        tol_t = (TOLERANCE_PER_VARIANCE * noise_d.pow(2)).clamp(TOLERANCE, 1e-2)
    else:
        tol_t = torch.full((M,), float(tolerance), dtype=torch.float64, device=x.device)
    lam = l2_t.view(M, 1, 1) * n64
    rho = rho_factor * lam
    censored = torch.zeros(M, dtype=torch.float64, device=x.device) if t.censored is None else (
        t.censored.sum(dim=(1, 2)).to(torch.float64) / (n64.view(M) * N))
    ridge = torch.full_like(clean, start == "ridge") if start != "auto" else clean & (censored < START_CENSORED)
    first = torch.where(ridge.view(M, 1, 1), lam, lam + rho)
    theta = inverse_times(first, xz, evals, evecs)
    # The dual variable: for the published start, the one that makes the start a fixed point of the first step when
    # the residual is zero (as the published solver sets it); for the ridge start, zero (the ridge answer already
    # balances its own penalty).
    v = torch.where(ridge.view(M, 1, 1), torch.zeros((), dtype=dtype, device=x.device), -(lam / rho).to(dtype)) * theta
    chi = theta + v if mask is None else (theta + v).masked_fill(mask, 0.0)
    v = v + theta - chi

    out = theta.clone()
    done_iter = [iterations] * M
    converged = [False] * M
    diverged = [False] * M
    last = [float("nan")] * M
    outliers = [0] * M
    active = torch.arange(M, device=x.device)
    # Working views of the networks still iterating; re-sliced only when some of them leave.
    xa, ta, gram_a, vals, vecs = x, t, gram.to(dtype), evals, evecs
    lam_a, rho_a, n_a = lam, rho, n_samples.to(dtype).view(M, 1, 1)
    mask_a = mask
    pre = torch.matmul(xa, theta)  # the pre-activations x theta: the fit as the data see it
    # Divergence: predictions far beyond the start's (tanh is flat past a few units, so a fit out there has left
    # its data), or anything non-finite.
    runaway = DIVERGENCE * (pre.pow(2).sum(dim=(1, 2)).to(torch.float64) / (n64.view(M) * N)).sqrt().clamp_min(1.0)
    for it in range(1, iterations + 1):
        residual = weighted_residual(pre, ta)  # (d - tanh(x theta)) / (1 - d^2)
        dropped_count = None
        if outlier_threshold is not None:
            drop = residual.abs() > outlier_threshold
            dropped = drop.sum(dim=1, keepdim=True)  # [m, 1, N]
            if bool(dropped.any()):
                residual.masked_fill_(drop, 0.0).mul_(n_a / (n_a - dropped.to(dtype)).clamp_min(1.0))
            dropped_count = dropped.sum(dim=(1, 2))
        rhs = torch.matmul(gram_a, theta).add_(torch.matmul(xa.transpose(1, 2), residual))
        rhs.add_(rho_a.to(dtype) * (chi - v))
        theta = inverse_times(lam_a + rho_a, rhs, vals, vecs)
        # Converged when the predictions stop moving: weights may still drift along directions the recording never
        # explored (they change no prediction), so a test on the weights themselves would wait for nothing.
        new_pre = torch.matmul(xa, theta)
        change = (new_pre - pre).flatten(1).norm(dim=1) / pre.flatten(1).norm(dim=1).clamp_min(1e-12)
        pre = new_pre
        chi = theta + v if mask_a is None else (theta + v).masked_fill(mask_a, 0.0)
        v = v + theta - chi
        rms = (pre.pow(2).sum(dim=(1, 2)).to(torch.float64) / (n64[active].view(-1) * N)).sqrt()
        bad = ~(torch.isfinite(rms) & (rms <= runaway[active])) | ~torch.isfinite(chi).flatten(1).all(dim=1)
        tol_a = tol_t[active].to(change.dtype)
        met = (change < tol_a) & ~bad
        stop = met | bad
        if it == iterations:
            stop = torch.ones_like(stop)
        if bool(stop.any()):
            idx = active[stop]
            out[idx] = chi[stop]
            for k, m in zip(stop.nonzero().flatten().tolist(), idx.tolist()):
                done_iter[m] = it
                converged[m] = bool(met[k])
                diverged[m] = bool(bad[k])
                last[m] = float(change[k])
                outliers[m] = 0 if dropped_count is None else int(dropped_count[k])
            keep = ~stop
            if not bool(keep.any()):
                break
            active = active[keep]
            xa, ta, gram_a, vals, vecs = xa[keep], ta.select(keep), gram_a[keep], vals[keep], vecs[keep]
            lam_a, rho_a, n_a = lam_a[keep], rho_a[keep], n_a[keep]
            theta, chi, v, pre = theta[keep], chi[keep], v[keep], pre[keep]
            if mask_a is not None and mask_a.shape[0] > 1:
                mask_a = mask_a[keep]
    return _Solve(out, done_iter, converged, diverged, last, outliers, l2_t.tolist(), noise_d.tolist(),
                  diagonal.tolist(), tol_t.tolist())


def auto_l2(x: torch.Tensor, t: Targets, xz: torch.Tensor, n: torch.Tensor, evals: torch.Tensor, inverse_times,
            noise_floor: torch.Tensor | None = None, rate_per_d: torch.Tensor | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """(l2 [M], noise_d [M]): the ridge strength for each network from the noise of its targets.

    noise_d is the RMS of d - tanh(x theta) after a nearly unregularised ridge fit of atanh(d) (theta at
    L2_PROBE), per residual degree of freedom (n less the fit's effective parameters, from the Gram matrix's
    eigenvalues, so that short recordings are not read as clean), over the neurons whose targets are least censored
    (see measured_neurons: a linear fit to clipped atanh(d) misses a saturated neuron's other time points, which is
    bias, not noise; observation noise shows in every neuron alike). It is about 0 on clean recordings, saturated
    ones included, about the noise of d (observation noise amplified by 1 / alpha) on noisy ones, and larger where
    unobserved units act as unmodelled input. The ridge that is best for a given noise grows as its variance:
    l2 = max(L2_PER_VARIANCE * noise_d^2, L2_PER_RATE_VARIANCE * u * noise_r^2) with noise_r = rate_per_d *
    noise_d the implied noise of the rates and u the share of directions the recording barely explores, kept within [L2_MIN, L2_MAX] (measured in benchmarks/bench_refit.py, --parts
    sweep on random teachers and --parts trained on the zoo's networks). A recording with no residual degree of freedom (fewer transitions than weights per neuron)
    cannot show its noise; it is assumed noisy (noise_d = inf: the largest ridge and the noisy-data settings).
    """
    M, _, N = t.z.shape
    c = L2_PROBE * n
    theta = inverse_times(c, xz)
    residual = target_residual(torch.matmul(x, theta), t)
    effective = (evals / (evals + c.view(M, 1))).sum(dim=1)  # trace of the probe's hat matrix
    dof = n.view(M) - effective
    sse = residual.to(torch.float64).pow(2).sum(dim=1)  # [M, N]
    used = measured_neurons(t, n)
    per_dof = (sse * used).sum(dim=1) / (dof.clamp_min(1) * used.sum(dim=1))
    noise_d = torch.where(dof >= 1, per_dof.sqrt(), torch.full_like(per_dof, math.inf))
    if noise_floor is not None:  # a known observation noise sets the least noise assumed
        noise_d = torch.maximum(noise_d, noise_floor.to(noise_d))
    l2 = L2_PER_VARIANCE * noise_d.pow(2)
    if rate_per_d is not None:
        noise_r2 = (rate_per_d.to(noise_d) * noise_d).pow(2)
        # the share of directions in which the recording's variance is within twice the rate noise's own: there
        # the regressors are mostly noise, and the ridge must stand in for the signal they lack
        unexplored = (evals < 2 * n.view(M, 1) * noise_r2.view(M, 1)).to(torch.float64).mean(dim=1)
        l2 = torch.maximum(l2, L2_PER_RATE_VARIANCE * unexplored * noise_r2)
    return l2.clamp(L2_MIN, L2_MAX), noise_d


def rate_noise_per_d(alpha: torch.Tensor) -> torch.Tensor:
    """[M]: the std of observation noise on the rates per unit std of the noise it causes in d, RMS over neurons
    (the inverse of implied_noise_d's factor: alpha / sqrt(1 + (1 - alpha)^2))."""
    a = alpha.to(torch.float64)
    return (a.pow(2) / (1 + (1 - a) ** 2)).mean(dim=1).sqrt()


def measured_neurons(t: Targets, n: torch.Tensor) -> torch.Tensor:
    """[M, N] float mask of the neurons the noise is measured on: those with at most CENSORED_SHARE of their
    targets censored, or, where fewer than a quarter of a network's neurons qualify, its least censored quarter."""
    M, _, N = t.z.shape
    if t.censored is None:
        return torch.ones(M, N, dtype=torch.float64, device=t.z.device)
    share = t.censored.sum(dim=1).to(torch.float64) / n.view(M, 1)
    quarter = share.kthvalue(max(1, N // 4), dim=1, keepdim=True).values
    return (share <= torch.maximum(quarter, torch.full_like(quarter, CENSORED_SHARE))).to(torch.float64)


# ---------------------------------------------------------------------------------------------------------------
# From recordings to the solver's problem
# ---------------------------------------------------------------------------------------------------------------
def as_tensor(value: Any, name: str, device: torch.device | None = None) -> torch.Tensor:
    """`value` as a floating tensor on `device`, refusing NaN and infinite entries with a message naming the fix."""
    t = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
    if not torch.is_floating_point(t):
        t = t.to(torch.float32)
    if device is not None:
        t = t.to(device)
    if not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite values; remove or interpolate them before refitting")
    return t


def stack4(t: torch.Tensor, name: str, width_name: str) -> tuple[torch.Tensor, int]:
    """t as [M, B, T, W] plus its original rank (2: [T, W], 3: [B, T, W], 4: [M, B, T, W])."""
    if t.ndim == 2:
        return t.unsqueeze(0).unsqueeze(0), 2
    if t.ndim == 3:
        return t.unsqueeze(0), 3
    if t.ndim == 4:
        return t, 4
    raise ValueError(f"{name} must be [T, {width_name}], [trials, T, {width_name}] or [networks, trials, T, "
                     f"{width_name}], got shape {tuple(t.shape)}")


def alpha_per_neuron(alpha: Any, M: int, N: int, like: torch.Tensor) -> torch.Tensor:
    """alpha = dt / tau as [M, N]: one value, one per network [M], one per neuron [N] or one per both [M, N]."""
    if alpha is None:
        raise ValueError("alpha (= dt / tau of the recorded network) is required: pass alpha=..., e.g. 0.5 for the "
                         "zoo's tau = 10 ms at dt = 5 ms, or refit with network=... to take it from that Network")
    a = torch.as_tensor(alpha, dtype=like.dtype, device=like.device)
    if a.ndim == 0:
        a = a.expand(M, N)
    elif a.ndim == 1 and a.numel() == N and (M == 1 or N != M):
        a = a.unsqueeze(0).expand(M, N)
    elif a.ndim == 1 and a.numel() == M:
        a = a.unsqueeze(1).expand(M, N)
    elif a.ndim == 2 and tuple(a.shape) == (M, N):
        pass
    else:
        raise ValueError(f"alpha has shape {tuple(a.shape)}; give one value, one per network ({M}), one per neuron "
                         f"({N}) or [{M}, {N}]")
    if not bool(((a > 0) & (a <= 1)).all()):
        raise ValueError(f"alpha = dt / tau must lie in (0, 1], got values from {float(a.min()):.3g} to "
                         f"{float(a.max()):.3g}")
    return a


def _counts(per_network: list[int]) -> str:
    shown = ", ".join(str(c) for c in per_network[:SHOWN])
    rest = len(per_network) - SHOWN
    return f"[{shown}{f', ... and {rest} more networks' if rest > 0 else ''}]"


def clip_rates(rates: torch.Tensor, limit: float = RATE_LIMIT) -> tuple[torch.Tensor, list[int]]:
    """Rates [M, B, T, N] clipped into [-limit, limit] (tanh units' range), with a warning giving the count per
    network. Rates inside, saturated ones included, are left as they are."""
    outside = rates.abs() > limit
    counts = outside.flatten(1).sum(1).tolist()
    if sum(counts):
        warnings.warn(f"{sum(counts)} of {rates.numel()} recorded rates lie outside [-{limit:g}, {limit:g}], the range "
                      f"of tanh units (largest |r| = {float(rates.abs().max()):.4g}), and were clipped to it (per "
                      f"network: {_counts(counts)}); rescale the recordings into [-1, 1] if these are not a few noisy "
                      "samples", RuntimeWarning, stacklevel=4)
        rates = rates.clamp(-limit, limit)
    return rates, counts


def design(rates: torch.Tensor, inputs: torch.Tensor | None, alpha: torch.Tensor, clip_eps: float, dtype: torch.dtype,
           real: torch.Tensor | None = None) -> tuple[torch.Tensor, Targets, list[int]]:
    """(x [M, S, N + I + 1] in `dtype`, the targets d [M, S, N], clipped per network) from rates [M, B, T, N],
    inputs [M, B, T, I] and alpha [M, N]. Transitions never cross trials: x[t] = [r[t], u[t], 1] and
    d[t] = (r[t+1] - (1 - a) r[t]) / a, computed and clipped into (-1 + clip_eps, 1 - clip_eps) in float64.
    real [M, S, 1] (bool): the transitions that are data, not padding (the rest become zero rows).
    Saturated units give |d| at or within rounding of 1: clipped silently (counted); |d| beyond 1 by more than
    the recording's precision explains (noise, or a wrong alpha) is clipped with a warning."""
    M, B, T, N = rates.shape
    a = alpha.view(M, 1, 1, N).to(torch.float64)
    r64 = rates.to(torch.float64)
    d = ((r64[:, :, 1:] - (1 - a) * r64[:, :, :-1]) / a).reshape(M, B * (T - 1), N)
    # d's error from the rates' rounding, at least float32's (recordings simulated in float32 are often passed on
    # in float64)
    eps = max(torch.finfo(rates.dtype).eps, torch.finfo(torch.float32).eps)
    rounding = (2 * eps / a).reshape(M, 1, N)
    parts = [rates[:, :, :-1].to(dtype)]
    if inputs is not None:
        parts.append(inputs[:, :, :-1].to(dtype))
    parts.append(torch.ones(M, B, T - 1, 1, dtype=dtype, device=rates.device))
    x = torch.cat(parts, dim=-1).reshape(M, B * (T - 1), -1)
    if real is not None:
        x, d = x * real, d * real
    limit = 1.0 - clip_eps
    clipped = (d.abs() > limit).flatten(1).sum(1).tolist()
    beyond = (d.abs() > 1 + rounding).flatten(1).sum(1).tolist()
    if sum(beyond):
        share = sum(beyond) / d.numel()
        warnings.warn(f"{sum(beyond)} of {d.numel()} ({100 * share:.2g}%) leak-corrected rates d = (r[t+1] - "
                      f"(1 - alpha) r[t]) / alpha lie outside [-1, 1] and were clipped to +-(1 - {clip_eps:g}) (per "
                      f"network: {_counts(beyond)}); many such entries mean noisy rates or a wrong alpha",
                      RuntimeWarning, stacklevel=4)
    censored = (d.abs() > limit) & (d.abs() <= 1 + rounding)  # saturation, not noise: |tanh| is at least |d|
    return x, Targets.from_d(d.clamp(-limit, limit), dtype, censored), clipped


def mask_from(connectivity: Any, self_connections: bool, M: int, N: int, D: int, device: torch.device
              ) -> torch.Tensor | None:
    """The solver's mask [M or 1, D, N] (True: held at zero) from a connectivity matrix in W_rec's convention
    ([post, pre], True or nonzero where a connection may exist; [N, N] or [M, N, N]) and the self-connection rule."""
    if connectivity is None and self_connections:
        return None
    allowed = torch.ones(1, N, N, dtype=torch.bool, device=device)
    if connectivity is not None:
        c = torch.as_tensor(np.asarray(connectivity) if not isinstance(connectivity, torch.Tensor) else connectivity)
        if c.ndim == 2:
            c = c.unsqueeze(0)
        if c.ndim != 3 or c.shape[1:] != (N, N) or c.shape[0] not in (1, M):
            raise ValueError(f"connectivity must be [{N}, {N}] or [{M}, {N}, {N}] (W_rec's [post, pre] convention, "
                             f"True where a connection may exist), got shape {tuple(c.shape)}")
        allowed = c.to(device=device) != 0
    if not self_connections:
        allowed = allowed & ~torch.eye(N, dtype=torch.bool, device=device)
    mask = torch.zeros(allowed.shape[0], D, N, dtype=torch.bool, device=device)
    mask[:, :N, :] = ~allowed.transpose(1, 2)  # theta is [pre (+ inputs, bias), post]
    return mask


# ---------------------------------------------------------------------------------------------------------------
# Public entry point on tensors
# ---------------------------------------------------------------------------------------------------------------
def fit_weights(rates: Any, inputs: Any, alpha: Any, *, outputs: Any = None, n_outputs: int = 2,
                l2: float | str = "auto", noise: float | None = None,
                outlier_threshold: float | None = OUTLIER_THRESHOLD, self_connections: bool | str = "auto",
                connectivity: Any = None, clip_eps: float = CLIP_EPS, start: str = START,
                rho_factor: float = RHO_FACTOR, iterations: int = ITERATIONS, tolerance: float | str = "auto",
                dtype: torch.dtype | None = torch.float32, device: str | torch.device | None = None,
                lengths: Sequence[int] | None = None, warn: bool = True) -> tuple[Weights, FitInfo]:
    """Batched CORNN: stacked Weights [M, ...] fitted to rates [M, B, T, N] (or [B, T, N], [T, N]).

    inputs: the same layout with I channels, or None. alpha (required): one value, one per network [M], one per
    neuron [N], or [M, N]. outputs [.., O] in (0, 1): when given, W_out and b_out are fitted by least squares on
    logit(outputs); else they are zero.
    l2: ridge per transition, or "auto": l2 = L2_PER_VARIANCE * noise_d^2 from the measured noise of d (see
    auto_l2). noise: the observation-noise std of the rates when known; with l2="auto" the ridge is then set for at
    least the noise it implies. outlier_threshold: weighted residuals above it are dropped (None keeps all: fails on
    noisy data; below 1 measured unsafe at alpha 0.1). self_connections: fit W_rec's diagonal (True), hold it at
    zero (False, the published solver's default: observation noise biases it strongly negative), or "auto": fit it
    only where the measured noise of d is under CLEAN_NOISE_D (clean recordings). connectivity: [N, N] or
    [M, N, N] in W_rec's [post, pre] convention, True where a connection may exist (the rest are held at zero).
    iterations, tolerance: each network stops when the relative change of its predictions x theta falls under
    tolerance ("auto": TOLERANCE on clean recordings, looser in proportion to the measured noise variance:
    stopping early regularises noisy fits). A network that reaches `iterations` first, or diverges (non-finite
    weights or runaway predictions, FitInfo.diverged), is reported unconverged (FitInfo.converged) with a warning.
    dtype: the iteration's precision, float32 (the default: it reproduces float64 fits to 3-4 digits in about half
    the time) or float64; None keeps the recording's dtype when it is one of those. d and atanh(d) are computed
    in float64 either way. lengths: each network's true trial length when trials are zero-padded to a common T.
    Rates outside [-1, 1] are clipped with a warning giving the count; saturated rates inside are used as they
    are. Fewer transitions than weights per neuron (trials x (T - 1) < N + I + 1) are fitted with a warning: the
    ridge makes the problem well-posed, but the weights are then only as good as the ridge's guess.
    """
    start_time = time.perf_counter()
    if l2 != "auto":
        l2 = float(l2)
        if l2 <= 0:
            raise ValueError(f"l2 must be positive (or 'auto'), got {l2}")
    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(str(t) for t in DTYPES)} or None (the recording's dtype "
                         f"when it is one of those, else float32), got {dtype!r}: lower precisions cannot resolve the "
                         "targets near saturation and overflow in the solver")
    if not 0 < clip_eps < 1:
        raise ValueError(f"clip_eps must lie in (0, 1): d is clipped into (-1 + clip_eps, 1 - clip_eps), got {clip_eps}")
    dev = torch.device(device) if device is not None else None
    recorded = as_tensor(rates, "rates", dev)  # kept at its own precision for d
    dev = recorded.device
    recorded, _ = stack4(recorded, "rates", "N")
    work = dtype or (recorded.dtype if recorded.dtype in DTYPES else torch.float32)
    rates = recorded.to(work)
    M, B, T, N = rates.shape
    if inputs is not None:
        inputs = as_tensor(inputs, "inputs", dev).to(work)
        inputs, _ = stack4(inputs, "inputs", "I")
        if inputs.shape[0] == 1 and M > 1:
            inputs = inputs.expand(M, -1, -1, -1)
        if inputs.shape[:3] != rates.shape[:3]:
            raise ValueError(f"inputs {tuple(inputs.shape)} do not match rates {tuple(rates.shape)}: give one input "
                             "vector per recorded time point (same networks, trials and time steps)")
    alpha_t = alpha_per_neuron(alpha, M, N, rates)
    I = 0 if inputs is None else inputs.shape[-1]
    D = N + I + 1
    if T < 2:
        raise ValueError(f"rates have {T} time point(s) per trial; CORNN needs pairs r[t], r[t+1]: record at least 2")
    lengths = [T] * M if lengths is None else [int(v) for v in lengths]
    fewest = min(B * (length - 1) for length in lengths)
    if fewest < D and warn:
        warnings.warn(f"{fewest} transitions (trials x (T - 1)) are fewer than the {D} weights per neuron ({N} units "
                      f"+ {I} inputs + bias): the fit is under-determined and the ridge picks among the weights that "
                      f"fit the data equally well; record at least {D} transitions (more time points or trials), or "
                      "fit fewer units, for weights the data decide", RuntimeWarning, stacklevel=2)
    valid = None
    if any(length != T for length in lengths):
        valid = torch.zeros(M, B, T, 1, dtype=torch.bool, device=dev)
        for m, length in enumerate(lengths):
            valid[m, :, :length] = True
        recorded = recorded * valid  # padding rows are exact zeros: they neither clip nor count
    with warnings.catch_warnings():
        if not warn:
            warnings.simplefilter("ignore", RuntimeWarning)
        recorded, clipped_rates = clip_rates(recorded)
        rates = recorded.to(work)
        # A transition is data only when both of its time points are.
        real = None if valid is None else (valid[:, :, 1:] & valid[:, :, :-1]).reshape(M, -1, 1)
        x, targets, clipped = design(recorded, inputs, alpha_t, clip_eps, work, real)
    if self_connections not in (True, False, "auto"):
        raise ValueError(f"self_connections must be True, False or 'auto', got {self_connections!r}")
    mask = mask_from(connectivity, True, M, N, D, dev)
    n_samples = torch.tensor([B * (length - 1) for length in lengths], device=dev)
    floor = None if noise is None else implied_noise_d(float(noise), alpha_t)
    result = solve(x, targets, n_samples, l2=l2, rho_factor=rho_factor, outlier_threshold=outlier_threshold,
                   iterations=iterations, tolerance=tolerance, mask=mask, start=start, noise_floor=floor,
                   self_connections=self_connections, rate_per_d=rate_noise_per_d(alpha_t))
    theta = result.theta
    W_rec = theta[:, :N, :].transpose(1, 2).contiguous()
    W_in = theta[:, N:N + I, :].transpose(1, 2).contiguous() if I else torch.zeros(M, N, 0, dtype=work, device=dev)
    b_rec = theta[:, -1, :].contiguous()
    W_out, b_out = fit_readout(rates, outputs, n_outputs, L2_MIN if l2 == "auto" else l2, lengths=lengths)
    weights = Weights(W_in=W_in, b_in=torch.zeros_like(b_rec), W_rec=W_rec, b_rec=b_rec, W_out=W_out, b_out=b_out)
    options = {"noise": noise, "l2": l2, "outlier_threshold": outlier_threshold, "self_connections": self_connections,
               "clip_eps": clip_eps, "start": start, "rho_factor": rho_factor, "iterations": iterations,
               "tolerance": tolerance, "dtype": str(work).replace("torch.", ""),
               "connectivity": connectivity is not None}
    info = FitInfo(iterations=result.iterations, converged=result.converged, diverged=result.diverged,
                   last_change=result.last_change,
                   clipped_rates=clipped_rates, clipped=clipped, outliers=result.outliers, l2=result.l2,
                   noise_d=result.noise_d, self_connections=result.self_connections, tolerance=result.tolerance,
                   seconds=time.perf_counter() - start_time, options=options)
    if warn:
        warn_diverged(info)
        warn_unconverged(info)
    return weights, info


def _listed(networks: list[int]) -> str:
    return ", ".join(str(m) for m in networks[:SHOWN]) + (f" and {len(networks) - SHOWN} more"
                                                          if len(networks) > SHOWN else "")


def warn_diverged(info: FitInfo) -> None:
    """One RuntimeWarning naming the networks whose fit diverged, and what to do about it."""
    bad = [m for m, gone in enumerate(info.diverged) if gone]
    if bad:
        warnings.warn(f"{len(bad)} of {len(info.diverged)} CORNN fits diverged (networks {_listed(bad)}: non-finite "
                      f"weights or predictions beyond {DIVERGENCE:g}x the start's; FitInfo.diverged says which, and "
                      "their weights are not a fit): keep outlier_threshold at 1 on noisy recordings, check alpha, "
                      "or pass a larger l2", RuntimeWarning, stacklevel=3)


def warn_unconverged(info: FitInfo) -> None:
    """One RuntimeWarning naming how many networks stopped before converging (divergence aside), and what to do."""
    bad = [m for m, ok in enumerate(info.converged) if not ok and not info.diverged[m]]
    if bad:
        worst = max(info.last_change[m] for m in bad)
        tolerance = max(info.tolerance[m] for m in bad)
        warnings.warn(f"{len(bad)} of {len(info.converged)} CORNN fits did not converge in "
                      f"{info.options['iterations']} iterations (networks {_listed(bad)}; last relative change of the "
                      f"predictions up to {worst:.2g}, tolerance {tolerance:.2g}): pass iterations=... higher, or check "
                      "alpha and the noise level (FitInfo.converged says which)", RuntimeWarning, stacklevel=3)


def fit_readout(rates: torch.Tensor, outputs: Any, n_outputs: int, l2: float, eps: float = 1e-6,
                lengths: Sequence[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(W_out [M, O, N], b_out [M, O]) by ridge least squares on logit(outputs), or zeros when outputs is None.

    rates [M, B, T, N]; padded time points (beyond lengths[m]) are left out.
    """
    M, B, T, N = rates.shape
    if outputs is None:
        return (torch.zeros(M, n_outputs, N, dtype=rates.dtype, device=rates.device),
                torch.zeros(M, n_outputs, dtype=rates.dtype, device=rates.device))
    outputs = as_tensor(outputs, "outputs", rates.device).to(rates.dtype)
    outputs, _ = stack4(outputs, "outputs", "O")
    if outputs.shape[0] == 1 and M > 1:
        outputs = outputs.expand(M, -1, -1, -1)
    if outputs.shape[:3] != rates.shape[:3]:
        raise ValueError(f"outputs {tuple(outputs.shape)} do not match rates {tuple(rates.shape)}: give one output "
                         "vector per recorded time point")
    lengths = [T] * M if lengths is None else list(lengths)
    if any(bool(((outputs[m, :, :L] <= 0) | (outputs[m, :, :L] >= 1)).any()) for m, L in enumerate(lengths)):
        warnings.warn("outputs outside (0, 1) were clipped before the logit: the readout is sigmoid(W_out r + b_out)",
                      RuntimeWarning, stacklevel=3)
    W_out, b_out = [], []
    for m in range(M):
        L = lengths[m]
        y = torch.logit(outputs[m, :, :L].clamp(eps, 1 - eps)).reshape(B * L, -1).to(torch.float64)
        x = torch.cat([rates[m, :, :L], torch.ones_like(rates[m, :, :L, :1])], dim=-1).reshape(B * L, N + 1)
        x = x.to(torch.float64)
        gram = x.T @ x + l2 * B * L * torch.eye(N + 1, dtype=torch.float64, device=x.device)
        w = torch.linalg.solve(gram, x.T @ y)  # [N + 1, O]
        W_out.append(w[:N].T)
        b_out.append(w[N])
    return (torch.stack(W_out).to(rates.dtype).contiguous(), torch.stack(b_out).to(rates.dtype).contiguous())


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
