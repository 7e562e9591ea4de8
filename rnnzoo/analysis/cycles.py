"""Periodicity of the autonomous activity: is the late part of a run a limit cycle, and of what period?

Batched over networks. The test is a return map: D(p) = mean_t ||x[t+p] - x[t]||^2 / (2 var) over the tail of the
run is ~1 for unrelated states and ~0 when the activity comes back to where it was p steps earlier. A cycle is a
tail that moves (RMS radius above `min_amplitude`), leaves its neighbourhood (D rises above `leave_level`) and comes
back (D falls below `return_level`), without shrinking (a damped spiral into a focus is not a cycle). The period is refined below one step from the winding of the phase in the tail's
top two principal components (exact for rotations whose period is not a whole number of steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnzoo.analysis.threads import one_thread

MIN_AMPLITUDE = 1e-2  # RMS radius (state units) below which the tail counts as at rest
LEAVE_LEVEL = 0.5  # D(p) must first exceed this: the activity left its neighbourhood ...
RETURN_LEVEL = 0.1  # ... and then come back below this: a period
MIN_GROWTH = 0.8  # the last third of the tail must keep this share of the first third's radius (not a damped spiral)


@dataclass
class CycleFit:
    """Per-network result of `fit_cycles`, tensors of shape [M]."""

    periodic: torch.Tensor  # bool
    damped: torch.Tensor  # bool: returns like a cycle but shrinks (spirals into a slow focus)
    period: torch.Tensor  # steps (float, NaN when not periodic)
    amplitude: torch.Tensor  # RMS distance of the tail's states from their mean (state units)
    output_amplitude: torch.Tensor  # peak-to-peak of the outputs over the tail, largest channel
    return_distance: torch.Tensor  # min over lags of D(p) after leaving (0 = exact return, 1 = none)


def return_profile(tail: torch.Tensor, max_lag: int) -> torch.Tensor:
    """D(p) for p = 1..max_lag, [M, max_lag], from tail states [M, W, N] (W > max_lag); all lags at once by FFT."""
    x = tail.to(torch.float64)
    dev = x - x.mean(dim=1, keepdim=True)
    M, W, _ = dev.shape
    var = dev.pow(2).sum(-1).mean(-1).clamp_min(1e-30)  # [M]
    spec = torch.fft.rfft(dev, n=2 * W, dim=1)
    cross = torch.fft.irfft(spec.abs().pow(2), n=2 * W, dim=1).sum(-1)[:, 1 : max_lag + 1]  # sum_t x[t+p].x[t]
    sq = dev.pow(2).sum(-1)  # [M, W]
    csum = torch.cat([torch.zeros(M, 1, dtype=sq.dtype, device=sq.device), sq.cumsum(1)], dim=1)
    lags = torch.arange(1, max_lag + 1, device=x.device)
    later = csum[:, -1:] - csum[:, lags]  # sum_{t >= p} ||x_t||^2
    earlier = csum[:, W - lags]  # sum_{t < W - p} ||x_t||^2
    return ((later + earlier - 2 * cross) / (W - lags) / (2 * var.view(-1, 1))).clamp_min(0)


def phase_period(tail: torch.Tensor) -> torch.Tensor:
    """Period in steps from the mean phase velocity in the top-2 principal plane of tail [M, W, N] (NaN if still)."""
    x = tail.to(torch.float64)
    dev = x - x.mean(dim=1, keepdim=True)
    with one_thread():
        _, vecs = torch.linalg.eigh(dev.transpose(1, 2) @ dev)  # ascending: the last two are the top components
    z = dev @ vecs[:, :, -2:]  # [M, W, 2]
    theta = torch.atan2(z[..., 1], z[..., 0])
    dtheta = torch.remainder(theta[:, 1:] - theta[:, :-1] + torch.pi, 2 * torch.pi) - torch.pi
    omega = dtheta.mean(dim=1).abs()
    return torch.where(omega > 1e-9, 2 * torch.pi / omega.clamp_min(1e-12), torch.full_like(omega, float("nan")))


def fit_cycles(tail: torch.Tensor, outputs_tail: torch.Tensor | None = None, *,
               min_amplitude: float = MIN_AMPLITUDE, leave_level: float = LEAVE_LEVEL,
               return_level: float = RETURN_LEVEL, min_growth: float = MIN_GROWTH) -> CycleFit:
    """Detect limit cycles in tail states [M, W, N] (the late, autonomous part of a noiseless run)."""
    M, W, _ = tail.shape
    x = tail.to(torch.float64)
    amplitude = (x - x.mean(dim=1, keepdim=True)).pow(2).sum(-1).mean(-1).sqrt()
    max_lag = max(2, (2 * W) // 3)
    D = return_profile(x, max_lag)  # [M, max_lag]
    lags = torch.arange(1, max_lag + 1, device=x.device)
    left = torch.cummax(D > leave_level, dim=1).values  # True from the first lag that left onwards
    returned = left & (D < return_level)
    # The first lag of the first return basin, then the local minimum of D inside that basin.
    first = torch.where(returned.any(1), returned.float().argmax(1), torch.full((M,), max_lag - 1, device=x.device))
    big = torch.full_like(D, float("inf"))
    idx = torch.arange(max_lag, device=x.device).view(1, -1)
    after = idx >= first.view(-1, 1)
    exceed = after & (D >= leave_level)
    end = torch.where(exceed.any(1), exceed.float().argmax(1), torch.full((M,), max_lag, device=x.device))
    in_basin = after & (idx < end.view(-1, 1)) & returned.any(1, keepdim=True)
    masked = torch.where(in_basin, D, big)
    best = masked.argmin(1)
    # A damped oscillation spirals into a (slow) fixed point: its return map looks periodic but it shrinks.
    third = max(1, W // 3)
    first_part, last_part = x[:, :third], x[:, -third:]
    radius = lambda part: (part - part.mean(1, keepdim=True)).pow(2).sum(-1).mean(-1).sqrt()  # noqa: E731
    sustained = radius(last_part) >= min_growth * radius(first_part)
    periodic = returned.any(1) & (amplitude > min_amplitude) & sustained
    integer_period = lags[best].to(torch.float64)
    # Sub-step refinement: the phase winding when it agrees with the return lag, else a parabola through D.
    by_phase = phase_period(x)
    d0 = torch.gather(D, 1, best.view(-1, 1)).squeeze(1)
    dm = torch.gather(D, 1, (best - 1).clamp_min(0).view(-1, 1)).squeeze(1)
    dp = torch.gather(D, 1, (best + 1).clamp_max(max_lag - 1).view(-1, 1)).squeeze(1)
    curvature = dm - 2 * d0 + dp
    shift = torch.where(curvature > 1e-12, 0.5 * (dm - dp) / curvature.clamp_min(1e-12), torch.zeros_like(d0))
    by_parabola = integer_period + shift.clamp(-0.5, 0.5)
    agrees = (by_phase - integer_period).abs() <= 1.0
    period = torch.where(agrees, by_phase, by_parabola)
    period = torch.where(periodic, period, torch.full_like(period, float("nan")))
    if outputs_tail is not None:
        o = outputs_tail.to(torch.float64)
        output_amplitude = (o.amax(1) - o.amin(1)).amax(-1)
    else:
        output_amplitude = torch.full((M,), float("nan"), dtype=torch.float64, device=x.device)
    damped = returned.any(1) & (amplitude > min_amplitude) & ~sustained
    return CycleFit(periodic, damped, period, amplitude, output_amplitude,
                    torch.where(periodic, d0, torch.full_like(d0, float("nan"))))
