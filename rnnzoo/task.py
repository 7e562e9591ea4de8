"""The delayed cue-discrimination task: the one definition used by training, re-simulation, analysis and refit.

A trial is a cue (one-hot on input channel 0 or 1), a silent delay of T ms, a reaction window in which the target
is the one-hot of the cue, and an optional silent post-reaction window (arXiv 2502.17433; docs/science.md).

The no-memory control (the reference's train_parallel_fixed.py) is the same trial with no delay, the target held
over the whole trial (`target_held`), plain loss weights and a linear readout (`readout="linear"`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np
import torch

N_INPUTS = 2
N_OUTPUTS = 2
READOUTS = ("sigmoid", "linear")  # o = sigmoid(W_out r + b_out) (the paper's memory families) or W_out r + b_out


def ms_to_steps(ms: float, dt_ms: float, what: str) -> int:
    """Convert a duration in ms to whole time steps, refusing durations that are off the dt grid."""
    if isinstance(ms, bool) or not isinstance(ms, (int, float, np.integer, np.floating)) or not math.isfinite(ms):
        raise ValueError(f"{what} must be a finite number of milliseconds, got {ms!r}")
    steps = ms / dt_ms
    if ms < 0 or abs(steps - round(steps)) > 1e-9:
        grid = ", ".join(str(round(k * dt_ms, 6)) for k in range(max(0, int(steps) - 1), int(steps) + 3))
        raise ValueError(
            f"{what} = {ms} ms is not a non-negative multiple of dt = {dt_ms} ms; "
            f"use a value on the grid, e.g. one of {grid}"
        )
    return int(round(steps))


@dataclass(frozen=True)
class Task:
    """Delayed cue discrimination with every interval a parameter (durations in milliseconds).

    `weighted` selects the paper's per-step loss weights (1 - K/L on the last K steps, K/L before, K = reaction +
    post steps); `weighted=False` gives the plain weights w = 1 used by the no-memory control family.
    `cue_held` keeps the cue on until the end of the reaction window (an option; no published family uses it).
    `target_held`: the target is the cue's one-hot on every step of the trial, cue period included (the reference's
    no-memory control: its target is the maximum over time of the reaction target).
    `readout`: how outputs are read from the rates, one of READOUTS ("linear" for the no-memory control); the
    dynamics (rnnzoo.dynamics.simulate) take it from here, so training, re-simulation and analysis agree.
    """

    delay_ms: float
    cue_ms: float = 30.0
    reaction_ms: float = 50.0
    post_ms: float = 0.0
    dt_ms: float = 5.0
    trials_per_class: int = 64
    weighted: bool = True
    cue_held: bool = False
    target_held: bool = False
    readout: str = "sigmoid"

    def __post_init__(self) -> None:
        if not (isinstance(self.dt_ms, (int, float, np.integer, np.floating)) and math.isfinite(self.dt_ms)
                and self.dt_ms > 0):
            raise ValueError(f"dt_ms must be a positive number of milliseconds, got {self.dt_ms!r}")
        for name in ("delay_ms", "cue_ms", "reaction_ms", "post_ms"):
            ms_to_steps(getattr(self, name), self.dt_ms, name)
        if self.cue_steps < 1 or self.reaction_steps < 1:
            raise ValueError("cue_ms and reaction_ms must each span at least one time step")
        if self.readout not in READOUTS:
            raise ValueError(f"readout must be one of {list(READOUTS)}, got {self.readout!r}")
        if self.trials_per_class < 1:
            raise ValueError(f"trials_per_class must be >= 1, got {self.trials_per_class}")

    # ---- sizes -------------------------------------------------------------------------------------------------
    @property
    def cue_steps(self) -> int:
        return ms_to_steps(self.cue_ms, self.dt_ms, "cue_ms")

    @property
    def delay_steps(self) -> int:
        return ms_to_steps(self.delay_ms, self.dt_ms, "delay_ms")

    @property
    def reaction_steps(self) -> int:
        return ms_to_steps(self.reaction_ms, self.dt_ms, "reaction_ms")

    @property
    def post_steps(self) -> int:
        return ms_to_steps(self.post_ms, self.dt_ms, "post_ms")

    @property
    def n_steps(self) -> int:
        """Trial length L in steps (16 + T/5 with the default intervals and no post window)."""
        return self.cue_steps + self.delay_steps + self.reaction_steps + self.post_steps

    @property
    def n_trials(self) -> int:
        return N_OUTPUTS * self.trials_per_class

    @property
    def reaction_window(self) -> slice:
        """Steps whose target is the one-hot of the cue."""
        start = self.cue_steps + self.delay_steps
        return slice(start, start + self.reaction_steps)

    # ---- tensors -----------------------------------------------------------------------------------------------
    def cues(self, device: torch.device | str | None = None) -> torch.Tensor:
        """Cue class of each trial, [n_trials]: trials_per_class zeros, then as many ones."""
        return torch.arange(N_OUTPUTS, device=device).repeat_interleave(self.trials_per_class)

    def inputs(self, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Input currents, [n_trials, n_steps, 2]."""
        u = torch.zeros(self.n_trials, self.n_steps, N_INPUTS, device=device, dtype=dtype)
        stop = self.reaction_window.stop if self.cue_held else self.cue_steps
        for cls in range(N_INPUTS):
            u[cls * self.trials_per_class : (cls + 1) * self.trials_per_class, :stop, cls] = 1.0
        return u

    def targets(self, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Target outputs, [n_trials, n_steps, 2]: the one-hot of the cue in the reaction window, zero elsewhere
        (on every step with target_held)."""
        y = torch.zeros(self.n_trials, self.n_steps, N_OUTPUTS, device=device, dtype=dtype)
        window = slice(0, self.n_steps) if self.target_held else self.reaction_window
        for cls in range(N_OUTPUTS):
            y[cls * self.trials_per_class : (cls + 1) * self.trials_per_class, window, cls] = 1.0
        return y

    def loss_weights(self, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Per-step loss weights, [n_steps]: 1 - K/L on the last K steps and K/L before (or all ones if plain)."""
        if not self.weighted:
            return torch.ones(self.n_steps, device=device, dtype=dtype)
        k = self.reaction_steps + self.post_steps
        w = torch.full((self.n_steps,), k / self.n_steps, device=device, dtype=dtype)
        w[self.n_steps - k :] = 1.0 - k / self.n_steps
        return w

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_row(cls, row: Mapping[str, Any], **overrides: Any) -> "Task":
        """The task a networks-table row was trained on (its delay_ms, cue_ms, reaction_ms, post_ms, dt_ms,
        weighted_loss, cue_held, target_held and readout columns; absent or null ones take the protocol's
        defaults, so tables written before a column existed still give their task), fields overridable.

        One definition for every reader of the table (Network.task, stored trajectories), so none of them needs a
        Network to know a row's task."""
        get = row.get
        fields = {"delay_ms": float(row["delay_ms"]), "cue_ms": float(get("cue_ms", 30.0)),
                  "reaction_ms": float(get("reaction_ms", 50.0)), "post_ms": float(get("post_ms", 0.0)),
                  "dt_ms": float(get("dt_ms", 5.0)), "weighted": bool(get("weighted_loss", True)),
                  "cue_held": bool(get("cue_held", False)),
                  "target_held": bool(_present(get("target_held"), False)),
                  "readout": str(_present(get("readout"), "sigmoid"))}
        fields.update(overrides)
        return cls(**fields)


def _present(value: Any, default: Any) -> Any:
    """`value`, or `default` when it is missing (None, NaN or pandas' NA): a column absent from older tables."""
    if value is None:
        return default
    try:
        import pandas as pd

        return default if pd.isna(value) else value
    except (TypeError, ValueError):  # array-like values are not missing
        return value
