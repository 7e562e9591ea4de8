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
    """M networks run on B trials of T steps: every array has the network axis first, [M, B, T, channels].

    The same index [m, b, t] means the same network, trial and time step in every array, so
    `rnnzoo.refit(sim.rates[m], sim.inputs[m], ...)` fits network m from its own recording. rates[:, :, t] is the
    state before step t's update; inputs[:, :, t] drives that update; outputs[:, :, t] is read from rates[:, :, t].
    inputs and targets are the task's, the same for every network (expanded views, no copies).
    accuracy / reliability are exact-window metrics (every reaction step against its cue, rnnzoo.dynamics.
    task_metrics), the zoo's final_accuracy / final_reliability; the paper's shifted-window numbers are the
    training curves' `accuracy` / `reliability` (rnnzoo.labels.paper_metrics).
    """

    inputs: torch.Tensor  # [M, B, T, I]
    targets: torch.Tensor  # [M, B, T, O]
    outputs: torch.Tensor  # [M, B, T, O]
    rates: torch.Tensor  # [M, B, T, N]
    loss: torch.Tensor  # [M]
    accuracy: torch.Tensor  # [M]
    reliability: torch.Tensor  # [M]


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
    M = weights.n_networks
    return Simulation(inputs.expand(M, *inputs.shape), targets.expand(M, *targets.shape), outputs, rates, loss,
                      accuracy, reliability)


def run_inputs(
    weights: Weights,
    inputs: torch.Tensor,
    alpha: float | Sequence[float] | torch.Tensor,
    seeds: Sequence[int] | None = None,
    *,
    r0: torch.Tensor | None = None,
    stream: int = STREAM_EVAL,
    noise_std: float = NOISE_STD,
    readout: str = "sigmoid",
) -> Simulation:
    """Simulate M networks on given inputs [B, T, I] (or [M, B, T, I]) rather than a task's, without gradients.

    r0 [M, B, N] or [B, N]: the initial rates (default: drawn as for a task, from stream `stream` of each seed).
    There is no task, so targets are NaN and so are loss, accuracy and reliability.
    """
    inputs = torch.as_tensor(inputs, device=weights.device).to(weights.dtype)
    if inputs.ndim not in (3, 4):
        raise ValueError(f"inputs must be [trials, T, {weights.n_inputs}] or [networks, trials, T, "
                         f"{weights.n_inputs}], got shape {tuple(inputs.shape)}")
    M = weights.n_networks
    B, T = inputs.shape[-3], inputs.shape[-2]
    generators = None if seeds is None else [stream_generator(s, stream, weights.device) for s in seeds]
    with torch.no_grad():
        drawn, noise = initial_and_noise(generators, B, T, weights.W_rec, noise_std=noise_std)
        if r0 is not None:
            r0 = torch.as_tensor(r0, device=weights.device).to(weights.dtype)
            drawn = r0.expand(M, *r0.shape[-2:]) if r0.ndim == 2 else r0
        outputs, rates = simulate(weights, inputs, alpha, r0=drawn, noise=noise, readout=readout)
    nan = torch.full((M,), float("nan"), dtype=weights.dtype, device=weights.device)
    full = inputs if inputs.ndim == 4 else inputs.expand(M, *inputs.shape)
    return Simulation(full, torch.full_like(outputs, float("nan")), outputs, rates, nan, nan.clone(), nan.clone())
