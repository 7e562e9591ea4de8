"""A torch.nn.Module view of one network, for users who want to train or probe it with ordinary torch code."""

from __future__ import annotations

import torch

from rnnzoo.dynamics import Weights, simulate


class RNN(torch.nn.Module):
    """Leaky firing-rate RNN with nn.Linear-shaped parameters; forward calls rnnzoo.dynamics.simulate."""

    def __init__(self, n_units: int, n_inputs: int = 2, n_outputs: int = 2, alpha: float = 0.5,
                 readout: str = "sigmoid"):
        super().__init__()
        self.alpha = alpha
        self.readout = readout  # "sigmoid" or "linear" (the no-memory control family), as rnnzoo.dynamics.readout
        self.W_in = torch.nn.Parameter(torch.zeros(n_units, n_inputs))
        self.b_in = torch.nn.Parameter(torch.zeros(n_units))
        self.W_rec = torch.nn.Parameter(torch.zeros(n_units, n_units))
        self.b_rec = torch.nn.Parameter(torch.zeros(n_units))
        self.W_out = torch.nn.Parameter(torch.zeros(n_outputs, n_units))
        self.b_out = torch.nn.Parameter(torch.zeros(n_outputs))

    @classmethod
    def from_weights(cls, weights: Weights, alpha: float, readout: str = "sigmoid") -> "RNN":
        if weights.n_networks != 1:
            raise ValueError(f"RNN.from_weights takes one network, got a stack of {weights.n_networks}")
        module = cls(weights.n_units, weights.n_inputs, weights.n_outputs, alpha, readout)
        with torch.no_grad():
            for name, tensor in weights.tensors().items():
                getattr(module, name).copy_(tensor[0])
        return module

    def extra_repr(self) -> str:
        return (f"n_units={self.W_rec.shape[0]}, n_inputs={self.W_in.shape[1]}, n_outputs={self.W_out.shape[0]}, "
                f"alpha={self.alpha:g}, readout={self.readout!r}")

    def stacked(self) -> Weights:
        return Weights(**{name: getattr(self, name).unsqueeze(0) for name in Weights.names()})

    def forward(self, inputs: torch.Tensor, r0: torch.Tensor | None = None,
                noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs [B, T, I] -> (outputs [B, T, O], rates [B, T, N])."""
        outputs, rates = simulate(self.stacked(), inputs, self.alpha,
                                  r0=None if r0 is None else r0.unsqueeze(0),
                                  noise=None if noise is None else noise.unsqueeze(0), readout=self.readout)
        return outputs[0], rates[0]
