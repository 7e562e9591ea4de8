"""Batched training of M networks with the paper's protocol: one program, per-network seeds and learning rates.

SGD with momentum 0.9 and weight decay 1e-7, full backpropagation through time, one full-batch step per "epoch"
(../shared/science.md). Each network draws its initial weights and its noise from its own random streams and
receives its own gradient (the loss is a sum of per-network losses), so its result does not depend on which
other networks share the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from rnnzoo.dynamics import (
    STREAM_INIT,
    STREAM_TRAIN,
    Weights,
    initial_and_noise,
    simulate,
    stream_generator,
    task_metrics,
    weighted_mse,
)
from rnnzoo.task import N_INPUTS, N_OUTPUTS, Task

MOMENTUM = 0.9
WEIGHT_DECAY = 1e-7
CURVE_NAMES = ("loss", "accuracy", "reliability", "grad_norm")


def paper_steps(lr: float, numerator: float = 30.0, minimum: int = 1000) -> int:
    """SGD steps of the paper's families: max(1000, 30 / lr) (the post-reaction family uses numerator 100)."""
    return int(max(minimum, numerator / lr))


def init_network(seed: int, n_units: int = 100, n_inputs: int = N_INPUTS, n_outputs: int = N_OUTPUTS) -> Weights:
    """Initial weights of one network (M = 1) from its INIT stream: Xavier-uniform matrices, torch.nn.Linear's
    default biases (uniform +-1/sqrt(fan_in)), zero W_rec diagonal. Drawn in the order W_in, b_in, W_rec, b_rec,
    W_out, b_out on the CPU, so a seed gives the same network on every device and in every grid cell."""
    g = stream_generator(seed, STREAM_INIT, "cpu")

    def linear(fan_out: int, fan_in: int) -> tuple[torch.Tensor, torch.Tensor]:
        w = torch.nn.init.xavier_uniform_(torch.empty(fan_out, fan_in), generator=g)
        bound = 1.0 / math.sqrt(fan_in)
        b = torch.empty(fan_out).uniform_(-bound, bound, generator=g)
        return w, b

    W_in, b_in = linear(n_units, n_inputs)
    W_rec, b_rec = linear(n_units, n_units)
    W_rec.fill_diagonal_(0.0)
    W_out, b_out = linear(n_outputs, n_units)
    return Weights(W_in[None], b_in[None], W_rec[None], b_rec[None], W_out[None], b_out[None])


def init_population(seeds: Sequence[int], n_units: int = 100) -> Weights:
    """Initial weights of len(seeds) networks, stacked."""
    return Weights.cat([init_network(int(s), n_units) for s in seeds])


@dataclass
class TrainResult:
    """Trained weights (on the CPU, float32) and per-step curves, one array per network of its own length."""

    weights: Weights
    curves: dict[str, list[np.ndarray]]


def train_population(
    seeds: Sequence[int],
    lrs: Sequence[float],
    steps: Sequence[int],
    task: Task,
    alpha: float | Sequence[float],
    *,
    n_units: int = 100,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    momentum: float = MOMENTUM,
    weight_decay: float = WEIGHT_DECAY,
    on_step: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train len(seeds) networks on one task in one batched program.

    Network m starts from init_network(seeds[m]), trains for steps[m] full-batch SGD steps at learning rate lrs[m]
    and draws its initial rates and noise from its own TRAIN stream. Networks that finish early leave the batch.
    on_step(step, n_active) is called after every step (for progress bars).
    """
    M = len(seeds)
    if not (len(lrs) == len(steps) == M):
        raise ValueError(f"seeds, lrs and steps must have one entry per network, got {M}, {len(lrs)}, {len(steps)}")
    if M == 0:
        raise ValueError("train_population needs at least one network")
    alpha_all = torch.as_tensor(alpha, dtype=torch.float64).reshape(-1).expand(M)
    # Longest-training networks first, so the networks still training are always a leading slice.
    order = sorted(range(M), key=lambda m: -int(steps[m]))
    params = init_population([seeds[m] for m in order], n_units).to(device, dtype).tensors()
    params = {k: v.contiguous() for k, v in params.items()}
    buffers = {k: torch.zeros_like(v) for k, v in params.items()}
    lr = torch.tensor([float(lrs[m]) for m in order], dtype=dtype, device=device)
    alpha_t = alpha_all[order].to(device=device, dtype=dtype)
    n_steps = [int(steps[m]) for m in order]
    generators = [stream_generator(seeds[m], STREAM_TRAIN, device) for m in order]

    inputs, targets = task.inputs(device, dtype), task.targets(device, dtype)
    step_weights, cues = task.loss_weights(device, dtype), task.cues(device)
    curves = torch.full((len(CURVE_NAMES), M, max(n_steps)), float("nan"), dtype=dtype, device=device)

    for k in range(max(n_steps)):
        n = sum(1 for s in n_steps if s > k)
        leaves = {name: p[:n].detach().requires_grad_(True) for name, p in params.items()}
        weights = Weights(**leaves)
        r0, noise = initial_and_noise(generators[:n], task.n_trials, task.n_steps, weights.W_rec)
        outputs, _ = simulate(weights, inputs, alpha_t[:n], r0=r0, noise=noise)
        losses = weighted_mse(outputs, targets, step_weights)
        losses.sum().backward()
        with torch.no_grad():
            accuracy, reliability = task_metrics(outputs.detach(), cues, task.eval_window)
            grad_norm = leaves["W_rec"].grad.flatten(1).norm(dim=1)
            curves[:, :n, k] = torch.stack([losses.detach(), accuracy, reliability, grad_norm])
            for name, leaf in leaves.items():
                p, buf, grad = params[name][:n], buffers[name][:n], leaf.grad
                d_p = grad.add(p, alpha=weight_decay)
                if k == 0:
                    buf.copy_(d_p)
                else:
                    buf.mul_(momentum).add_(d_p)
                p.sub_(lr[:n].view(-1, *([1] * (p.ndim - 1))) * buf)
        if on_step is not None:
            on_step(k, n)

    inverse = np.argsort(order)
    final = Weights(**{k: v[torch.as_tensor(inverse, device=v.device)] for k, v in params.items()}).to("cpu", torch.float32)
    curves_np = curves.cpu().numpy().astype(np.float32)
    out = {name: [curves_np[c, i, : n_steps[i]] for i in inverse] for c, name in enumerate(CURVE_NAMES)}
    return TrainResult(weights=final, curves=out)
