"""Slow and fixed points of the autonomous map F (rnnzoo.dynamics.step_map with zero input), batched over networks.

Minimises q(x) = 1/2 ||F(x) - x||^2 from states taken on each network's trajectory (Sussillo & Barak's recipe),
with Adam on the analytic gradient, all networks and all starting states at once; then keeps the distinct points,
their speed ||F(x) - x|| (state change per step) and the leading eigenvalues of the Jacobian of F there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from rnnzoo.analysis.threads import one_thread
from rnnzoo.dynamics import Weights, as_alpha, step_map

SLOW_SPEED = 1e-3  # a slow point moves less than this per step (state units, Euclidean over all units)
FIXED_SPEED = 1e-5  # a fixed point, up to float32 round-off
DISTINCT_DISTANCE = 0.05  # points closer than this (Euclidean) are one point


@dataclass
class SlowPoints:
    """Candidates found from K starts in each of M networks: tensors [M, K, ...], sorted slowest first."""

    points: torch.Tensor  # [M, K, N]
    speed: torch.Tensor  # [M, K], ||F(x) - x||
    distinct: torch.Tensor  # [M, K] bool: the first of its cluster (duplicates are False)
    eigenvalues: torch.Tensor  # [M, K, n_eig] complex, leading eigenvalues of dF/dx (NaN where not computed)

    def n_slow(self, threshold: float = SLOW_SPEED) -> torch.Tensor:
        """Number of distinct points slower than `threshold`, [M]."""
        return (self.distinct & (self.speed < threshold)).sum(1)

    def slowest_speed(self) -> torch.Tensor:
        return self.speed[:, 0]


def _zero_input_bias(weights: Weights) -> torch.Tensor:
    return (weights.b_in + weights.b_rec).unsqueeze(1)  # [M, 1, N]


def velocity(weights: Weights, states: torch.Tensor, alpha: float | Sequence[float] | torch.Tensor) -> torch.Tensor:
    """Speed ||F(x) - x|| of the noiseless, input-free map at states [M, K, N], [M, K]."""
    return (step_map(weights, states, alpha) - states).norm(dim=-1)


def jacobian(weights: Weights, network: torch.Tensor, states: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """dF/dx at states [P, N] of networks `network` [P] as [P, N, N]: (1 - alpha) I + alpha diag(tanh') W_rec."""
    W = weights.W_rec[network]
    pre = torch.bmm(W, states.unsqueeze(-1)).squeeze(-1) + (weights.b_in + weights.b_rec)[network]
    slope = 1 - torch.tanh(pre) ** 2
    a = alpha[network].view(-1, 1, 1)
    eye = torch.eye(states.shape[-1], dtype=states.dtype, device=states.device)
    return (1 - a) * eye + a * slope.unsqueeze(-1) * W


def minimise_speed(weights: Weights, starts: torch.Tensor, alpha: float | Sequence[float] | torch.Tensor,
                   iterations: int = 150, lr: float = 1e-2, final_lr: float = 1e-4, tol: float = 1e-7) -> torch.Tensor:
    """Minimise q(x) = 1/2 ||F(x) - x||^2 from starts [M, K, N] with Adam (analytic gradient); returns [M, K, N]."""
    M = weights.n_networks
    a = as_alpha(alpha, M, weights.W_rec).view(M, 1, 1)
    bias, W, Wt = _zero_input_bias(weights), weights.W_rec, weights.W_rec.transpose(1, 2)
    x = starts.clone()
    m1, m2 = torch.zeros_like(x), torch.zeros_like(x)
    beta1, beta2, eps = 0.9, 0.999, 1e-12
    decay = (final_lr / lr) ** (1.0 / max(1, iterations))
    best, best_speed = x.clone(), torch.full(x.shape[:2], float("inf"), dtype=x.dtype, device=x.device)
    with torch.no_grad():
        for it in range(1, iterations + 2):
            h = torch.tanh(torch.baddbmm(bias, x, Wt))
            g = a * (h - x)  # F(x) - x
            speed = g.norm(dim=-1)
            better = speed < best_speed  # Adam's steps do not shrink with the gradient: keep the best point seen
            best = torch.where(better.unsqueeze(-1), x, best)
            best_speed = torch.where(better, speed, best_speed)
            if it > iterations or (it % 50 == 0 and float(best_speed.max()) < tol):
                break
            grad = a * (torch.bmm((1 - h * h) * g, W) - g)  # J^T g with J = a (diag(s) W - I)
            m1.mul_(beta1).add_(grad, alpha=1 - beta1)
            m2.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            step = lr * decay ** it
            x = x - step * (m1 / (1 - beta1 ** it)) / ((m2 / (1 - beta2 ** it)).sqrt() + eps)
    return best


def find_slow_points(weights: Weights, starts: torch.Tensor, alpha: float | Sequence[float] | torch.Tensor, *,
                     iterations: int = 150, distinct_distance: float = DISTINCT_DISTANCE, n_eig: int = 3,
                     max_eig_points: int = 2, eig_speed: float = 1e-2) -> SlowPoints:
    """Slow points of M networks from starts [M, K, N]: minimised, sorted slowest first, deduplicated, with the
    `n_eig` leading Jacobian eigenvalues (by modulus) of the `max_eig_points` slowest distinct points that move
    slower than `eig_speed` per step (NaN elsewhere: a speed minimum far from rest has no meaningful linearisation)."""
    M, K, N = starts.shape
    a = as_alpha(alpha, M, weights.W_rec)
    x = minimise_speed(weights, starts, a, iterations=iterations)
    speed = velocity(weights, x, a)
    order = speed.argsort(dim=1)
    speed = torch.gather(speed, 1, order)
    x = torch.gather(x, 1, order.unsqueeze(-1).expand(-1, -1, N))
    dist = torch.cdist(x, x)  # [M, K, K]
    distinct = torch.zeros(M, K, dtype=torch.bool, device=x.device)
    for k in range(K):  # greedy: keep k unless a slower kept point is within distinct_distance
        near = (dist[:, k, :k] < distinct_distance) & distinct[:, :k]
        distinct[:, k] = ~near.any(1)
    eig = torch.full((M, K, n_eig), complex(float("nan"), float("nan")), dtype=torch.complex128, device=x.device)
    rank = distinct.cumsum(1) - 1
    chosen = distinct & (rank < max_eig_points) & (speed < eig_speed)
    if chosen.any():
        network, k = chosen.nonzero(as_tuple=True)
        J = jacobian(weights, network, x[network, k], a)  # [P, N, N]
        with one_thread():
            values = torch.linalg.eigvals(J.to(torch.float64))
        idx = values.abs().argsort(dim=-1, descending=True)[:, :n_eig]
        eig[chosen] = torch.gather(values, 1, idx)
    return SlowPoints(x, speed, distinct, eig)
