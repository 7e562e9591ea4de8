"""Run networks on their task with a reproducible random stream: the canonical evaluation and re-simulation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from rnnzoo.dynamics import (
    NOISE_STD,
    STREAM_EVAL,
    Weights,
    initial_and_noise,
    simulate,
    stream_generator,
    task_metrics,
    weighted_mse,
)
from rnnzoo.task import Task


@dataclass
class Simulation:
    """Outputs [M, B, T, O] and rates [M, B, T, N] of M networks on a task, with per-network loss and metrics.

    accuracy / reliability are exact-window metrics (every reaction step against its cue, rnnzoo.dynamics.
    task_metrics), the zoo's final_accuracy / final_reliability; the paper's shifted-window numbers are the
    training curves' `accuracy` / `reliability` (rnnzoo.labels.paper_metrics)."""

    inputs: torch.Tensor
    targets: torch.Tensor
    outputs: torch.Tensor
    rates: torch.Tensor
    loss: torch.Tensor
    accuracy: torch.Tensor
    reliability: torch.Tensor


def run_task(
    weights: Weights,
    task: Task,
    alpha: float | Sequence[float] | torch.Tensor,
    seeds: Sequence[int] | None = None,
    *,
    stream: int = STREAM_EVAL,
    noise_std: float = NOISE_STD,
) -> Simulation:
    """Simulate every trial of `task` for M networks, without gradients.

    With `seeds`, network m draws r[0] and noise from stream `stream` of seeds[m], so the default call
    reproduces the zoo's stored final metrics exactly; with seeds=None the global RNG is used.
    """
    generators = None if seeds is None else [stream_generator(s, stream, weights.device) for s in seeds]
    inputs = task.inputs(weights.device, weights.dtype)
    targets = task.targets(weights.device, weights.dtype)
    with torch.no_grad():
        r0, noise = initial_and_noise(generators, task.n_trials, task.n_steps, weights.W_rec, noise_std=noise_std)
        outputs, rates = simulate(weights, inputs, alpha, r0=r0, noise=noise, readout=task.readout)
        loss = weighted_mse(outputs, targets, task.loss_weights(weights.device, weights.dtype))
        accuracy, reliability = task_metrics(outputs, task.cues(weights.device), task.reaction_window)
    return Simulation(inputs, targets, outputs, rates, loss, accuracy, reliability)
