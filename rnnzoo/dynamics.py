"""The leaky firing-rate RNN for a stack of M networks: the one definition of the dynamics in rnnzoo.

    r[t+1] = (1 - alpha) r[t] + alpha * tanh(W_rec r[t] + b_rec + W_in u[t] + b_in + noise[t])
    o[t]   = sigmoid(W_out r[t] + b_out)          (read from the state before step t's update)
    o[t]   = W_out r[t] + b_out                   (readout="linear": the no-memory control family)

Training, re-simulation, mechanism analysis and the CORNN refit all call `simulate` (or `step`). One network is
the case M = 1. Every tensor lives on whatever device the weights are on, so the same code runs on CPU and CUDA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Iterator, Sequence

import torch

from rnnzoo.task import N_INPUTS, N_OUTPUTS, READOUTS

NOISE_STD = 0.001  # sigma of the pre-activation noise (paper protocol)
RATE_STD = 0.1  # r[0] = tanh(RATE_STD * standard normal), drawn per trial

# Random streams of one network: the generator of stream S for seed k is seeded with k * N_STREAMS + S, so the
# weights' initialisation, the training noise, the canonical evaluation and the mechanism analysis never share
# random numbers, and a network's draws never depend on which other networks share its batch.
STREAM_INIT, STREAM_TRAIN, STREAM_EVAL, STREAM_ANALYSIS = 0, 1, 2, 3
N_STREAMS = 4


def stream_generator(seed: int, stream: int, device: torch.device | str = "cpu") -> torch.Generator:
    """The torch.Generator of one network's random stream (see STREAM_*)."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed) * N_STREAMS + int(stream))
    return generator


@dataclass(repr=False)
class Weights:
    """Weights of a stack of M networks, torch.nn.Linear convention ([out, in]) behind a leading network axis."""

    W_in: torch.Tensor  # [M, N, I]
    b_in: torch.Tensor  # [M, N]
    W_rec: torch.Tensor  # [M, N, N]
    b_rec: torch.Tensor  # [M, N]
    W_out: torch.Tensor  # [M, O, N]
    b_out: torch.Tensor  # [M, O]

    def __post_init__(self) -> None:
        check_weights(self)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @staticmethod
    def shapes(n_units: int, n_inputs: int = N_INPUTS, n_outputs: int = N_OUTPUTS) -> dict[str, tuple[int, ...]]:
        """One network's shape of each weight, in field order: what the trainer's flat layout, the dry run's bytes
        and the Parquet views' file sizes are counted from."""
        return {"W_in": (n_units, n_inputs), "b_in": (n_units,), "W_rec": (n_units, n_units), "b_rec": (n_units,),
                "W_out": (n_outputs, n_units), "b_out": (n_outputs,)}

    @staticmethod
    def n_bytes(n_units: int, n_inputs: int = N_INPUTS, n_outputs: int = N_OUTPUTS) -> int:
        """Bytes of one network's float32 weights."""
        return 4 * sum(math.prod(shape) for shape in Weights.shapes(n_units, n_inputs, n_outputs).values())

    def tensors(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name) for name in self.names()}

    def __repr__(self) -> str:
        shapes = ", ".join(f"{name}={list(tensor.shape)}" for name, tensor in self.tensors().items())
        return f"Weights({self.n_networks} networks of {self.n_units} units, {self.W_rec.dtype}, {self.W_rec.device}: {shapes})"

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(self.tensors().values())

    @property
    def n_networks(self) -> int:
        return self.W_rec.shape[0]

    @property
    def n_units(self) -> int:
        return self.W_rec.shape[-1]

    @property
    def n_inputs(self) -> int:
        return self.W_in.shape[-1]

    @property
    def n_outputs(self) -> int:
        return self.W_out.shape[1]

    @property
    def device(self) -> torch.device:
        return self.W_rec.device

    @property
    def dtype(self) -> torch.dtype:
        return self.W_rec.dtype

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "Weights":
        return Weights(**{k: v.to(device=device, dtype=dtype) for k, v in self.tensors().items()})

    def select(self, index: int | slice | Sequence[int] | torch.Tensor) -> "Weights":
        """The sub-stack of the networks at `index` (an int keeps the network axis)."""
        if isinstance(index, int):
            index = [index]
        return Weights(**{k: v[index] for k, v in self.tensors().items()})

    @classmethod
    def cat(cls, stacks: Sequence["Weights"]) -> "Weights":
        return cls(**{k: torch.cat([s.tensors()[k] for s in stacks]) for k in cls.names()})

    def clone(self) -> "Weights":
        return Weights(**{k: v.clone() for k, v in self.tensors().items()})


def check_weights(w: Weights) -> None:
    """Raise a clear error when the stacked weights do not describe M consistent networks."""
    M, N = w.W_rec.shape[0], w.W_rec.shape[-1]
    if w.W_rec.ndim != 3 or w.W_rec.shape[1] != N:
        raise ValueError(f"W_rec must be [M, N, N] (square per network), got shape {tuple(w.W_rec.shape)}")
    if w.W_in.ndim != 3:
        raise ValueError(f"W_in must be [M, N, n_inputs], got shape {tuple(w.W_in.shape)}")
    if w.W_out.ndim != 3:
        raise ValueError(f"W_out must be [M, n_outputs, N], got shape {tuple(w.W_out.shape)}")
    I, O = w.W_in.shape[-1], w.W_out.shape[1]
    expected = {"W_in": (M, N, I), "b_in": (M, N), "b_rec": (M, N), "W_out": (M, O, N), "b_out": (M, O)}
    for name, shape in expected.items():
        got = tuple(getattr(w, name).shape)
        if got != shape:
            raise ValueError(
                f"{name} has shape {got} but W_rec {tuple(w.W_rec.shape)}, W_in {tuple(w.W_in.shape)} and "
                f"W_out {tuple(w.W_out.shape)} imply {shape}; pass weights of one stack of M networks with N units"
            )


def as_alpha(alpha: float | Sequence[float] | torch.Tensor, n_networks: int, like: torch.Tensor) -> torch.Tensor:
    """Per-network alpha as a [M] tensor, checked to lie in (0, 1]."""
    a = torch.as_tensor(alpha, dtype=like.dtype, device=like.device).reshape(-1)
    if a.numel() == 1:
        a = a.expand(n_networks)
    if a.numel() != n_networks:
        raise ValueError(f"alpha has {a.numel()} values for {n_networks} networks; give one value or one per network")
    if not bool(((a > 0) & (a <= 1)).all()):
        raise ValueError(f"alpha = dt / tau must lie in (0, 1], got {a.tolist()[:8]}")
    return a


def draw_normal(generators: Sequence[torch.Generator] | None, shape: Sequence[int], like: torch.Tensor) -> torch.Tensor:
    """[M, *shape] standard normals, row m drawn from generators[m] (or the global RNG when generators is None)."""
    M = like.shape[0]
    if generators is None:
        return torch.randn(M, *shape, dtype=like.dtype, device=like.device)
    if len(generators) != M:
        raise ValueError(f"got {len(generators)} random generators for {M} networks; give one per network")
    out = torch.empty(M, *shape, dtype=like.dtype, device=like.device)
    for m, generator in enumerate(generators):
        torch.randn(*shape, generator=generator, dtype=like.dtype, device=like.device, out=out[m])
    return out


def initial_and_noise(
    generators: Sequence[torch.Generator] | None,
    n_trials: int,
    n_steps: int,
    like: torch.Tensor,
    noise_std: float = NOISE_STD,
    rate_std: float = RATE_STD,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Random initial rates [M, B, N] and pre-activation noise [M, B, T, N] for one forward pass.

    Each network draws, from its own generator and in this order, B*N normals for r[0] then B*T*N for the noise.
    """
    N = like.shape[-1]
    draws = draw_normal(generators, (n_trials * N * (1 + (n_steps if noise_std > 0 else 0)),), like)
    r0 = torch.tanh(rate_std * draws[:, : n_trials * N].reshape(-1, n_trials, N))
    noise = None
    if noise_std > 0:
        noise = noise_std * draws[:, n_trials * N :].reshape(-1, n_trials, n_steps, N)
    return r0, noise


def simulate(
    weights: Weights,
    inputs: torch.Tensor,
    alpha: float | Sequence[float] | torch.Tensor,
    *,
    r0: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    readout: str = "sigmoid",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run M networks on a batch of trials; returns (outputs [M, B, T, O], rates [M, B, T, N]).

    inputs: [B, T, I] (shared by all networks) or [M, B, T, I]. rates[:, :, t] is the state before step t's
    update and outputs[:, :, t] is read from it. r0: [M, B, N] initial rates (zeros if None). noise: [M, B, T, N]
    pre-activation noise or None. readout: "sigmoid" or "linear" (rnnzoo.task.READOUTS; a Task's `readout`).
    Differentiable: training backpropagates through this function.
    """
    M, N = weights.n_networks, weights.n_units
    if inputs.ndim == 3:
        inputs = inputs.unsqueeze(0).expand(M, -1, -1, -1)
    if inputs.ndim != 4 or inputs.shape[0] != M or inputs.shape[-1] != weights.n_inputs:
        raise ValueError(
            f"inputs must be [B, T, {weights.n_inputs}] or [{M}, B, T, {weights.n_inputs}], got {tuple(inputs.shape)}"
        )
    _, B, T, _ = inputs.shape
    a = as_alpha(alpha, M, weights.W_rec).view(M, 1, 1)
    # Everything but the recurrent term is known in advance: compute it for all steps at once, time-major.
    drive = torch.matmul(inputs.to(weights.dtype), weights.W_in.transpose(1, 2).unsqueeze(1))  # [M, B, T, N]
    drive = drive + (weights.b_in + weights.b_rec).view(M, 1, 1, N)
    if noise is not None:
        drive = drive + noise
    drive = drive.permute(2, 0, 1, 3)  # [T, M, B, N]
    r = torch.zeros(M, B, N, dtype=weights.dtype, device=weights.device) if r0 is None else r0
    W_rec_t = weights.W_rec.transpose(1, 2)
    rates = []
    for t in range(T):
        rates.append(r)
        r = (1 - a) * r + a * torch.tanh(torch.baddbmm(drive[t], r, W_rec_t))
    rates_t = torch.stack(rates, dim=2)  # [M, B, T, N]
    outputs = _readout(weights, rates_t, readout)
    return outputs, rates_t


def readout(weights: Weights, rates: torch.Tensor, kind: str = "sigmoid") -> torch.Tensor:
    """Outputs sigmoid(W_out r + b_out) (kind "sigmoid") or W_out r + b_out (kind "linear") for rates [M, ..., N]."""
    if kind not in READOUTS:
        raise ValueError(f"readout must be one of {list(READOUTS)}, got {kind!r}")
    M = weights.n_networks
    flat = rates.reshape(M, -1, rates.shape[-1])
    out = torch.baddbmm(weights.b_out.unsqueeze(1), flat, weights.W_out.transpose(1, 2))
    if kind == "sigmoid":
        out = torch.sigmoid(out)
    return out.reshape(*rates.shape[:-1], weights.n_outputs)


_readout = readout  # simulate's `readout` argument shadows the function's name inside it


def step_map(weights: Weights, states: torch.Tensor, alpha: float | Sequence[float] | torch.Tensor,
             inputs: torch.Tensor | None = None) -> torch.Tensor:
    """F(x): one noiseless update of states [M, K, N] under constant inputs [M, K, I] (zero if None)."""
    M = weights.n_networks
    a = as_alpha(alpha, M, weights.W_rec).view(M, 1, 1)
    pre = torch.baddbmm((weights.b_in + weights.b_rec).unsqueeze(1), states, weights.W_rec.transpose(1, 2))
    if inputs is not None:
        pre = pre + torch.matmul(inputs.to(weights.dtype), weights.W_in.transpose(1, 2))
    return (1 - a) * states + a * torch.tanh(pre)


def task_metrics(outputs: torch.Tensor, cues: torch.Tensor, window: slice) -> tuple[torch.Tensor, torch.Tensor]:
    """Reaction accuracy and reliability per network, [M] each, from outputs [M, B, T, O].

    p = o / sum(o) over the output channels; accuracy is the fraction of (trial, step) pairs in `window` whose
    arg-max is the cue; reliability is the mean p of the cued channel.
    """
    o = outputs[:, :, window, :]
    p = o / o.sum(dim=-1, keepdim=True)
    correct = cues.view(1, -1, 1)
    accuracy = (p.argmax(dim=-1) == correct).to(outputs.dtype).mean(dim=(1, 2))
    reliability = torch.gather(p, -1, correct.unsqueeze(-1).expand(p.shape[0], -1, p.shape[2], 1)).mean(dim=(1, 2, 3))
    return accuracy, reliability


def weighted_mse(outputs: torch.Tensor, targets: torch.Tensor, step_weights: torch.Tensor) -> torch.Tensor:
    """Per-network loss, [M]: mean over trials, steps and channels of w[t] * (o - y)^2."""
    err = (outputs - targets.unsqueeze(0)) ** 2 * step_weights.view(1, 1, -1, 1)
    return err.mean(dim=(1, 2, 3))
