"""Weight-space encoders of the zoo's RNNs that respect their hidden-unit permutation symmetry.

    spectral_features(weights, alpha)    eigenvalue features of W_rec and of the step map's Jacobian at the
                                         fixed points near where a cue leaves the network ([M, F], invariant)
    probe_features(weights, alpha)       the networks run on fixed probe inputs (rnnzoo.dynamics.simulate):
                                         outputs and rate summaries over time ([M, F], invariant)
    DWSNet(...)                          a Deep-Weight-Space-style network for RNNs: layers equivariant to
                                         W_rec -> P W_rec P^T, W_in rows / b_in / b_rec -> P, W_out columns -> P^T;
                                         invariant pooling; MLP head

Permuting the hidden units (rnnzoo.weightspace.permute_hidden) leaves every feature and DWSNet's output unchanged
up to float rounding: the tests check it on the embedded sample. For many networks,
in_chunks(probe_features, weights, alpha) bounds the memory the simulated rates take.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from rnnzoo.dynamics import Weights, as_alpha, simulate, step_map

# ---- spectra -----------------------------------------------------------------------------------------------------
TOP_EIGS = 8  # eigenvalues kept per matrix, by modulus
PROBE_CUE_STEPS = 6  # 30 ms at dt = 5 ms: the task's cue
SETTLE_STEPS = 120  # silent steps after the cue (600 ms) before the Jacobian is taken
PROBE_STEPS = 200  # steps of every probe (1 s at dt = 5 ms), the same for every network whatever its delay
N_RANDOM_PROBES = 4  # fixed random input sequences beside the two cues and silence
PROBE_SEED = 0
PROBE_STRIDE = 4  # probe features keep every 4th step
FIXED_POINT_ITERATIONS = 30
RECURRENCE_LAGS = (1, 2, 4, 8, 16, 32)
CHUNK = 128  # networks simulated at once by in_chunks


def eigen_features(matrices: torch.Tensor, top: int = TOP_EIGS, alpha: torch.Tensor | float | None = None
                   ) -> torch.Tensor:
    """[M, 3 top + 4] features of the eigenvalues of matrices [M, N, N] (with alpha [M]: of the step map's
    Jacobian (1 - alpha) I + alpha * matrices): |lambda|, Re and |Im| of the `top` largest by modulus, the spectral
    radius's |angle|, the fraction outside the unit circle, the fraction of those that are complex, and the mean
    |lambda|. Eigenvalues are similarity-invariant, hence invariant to permuting the hidden units."""
    eig = torch.linalg.eigvals(matrices.to(torch.float64))
    if alpha is not None:
        a = torch.as_tensor(alpha, dtype=torch.float64, device=eig.device).reshape(-1, 1)
        eig = (1 - a) + a * eig
    order = eig.abs().argsort(dim=1, descending=True)
    eig = torch.gather(eig, 1, order)
    lead = eig[:, :top]
    outside = eig.abs() > 1
    complex_outside = (outside & (eig.imag.abs() > 1e-9)).double().sum(1) / outside.double().sum(1).clamp_min(1)
    extra = [eig[:, 0].angle().abs(), outside.double().mean(1), complex_outside, eig.abs().mean(1)]
    return torch.cat([lead.abs(), lead.real, lead.imag.abs(), torch.stack(extra, 1)], 1)


def cue_inputs(n_steps: int, n_inputs: int = 2, cue_steps: int = PROBE_CUE_STEPS) -> torch.Tensor:
    """[n_inputs + 1, n_steps, n_inputs] probe inputs: a cue on each channel for cue_steps, then silence; last,
    silence throughout."""
    u = torch.zeros(n_inputs + 1, n_steps, n_inputs)
    for channel in range(n_inputs):
        u[channel, :cue_steps, channel] = 1.0
    return u


def jacobian_core(weights: Weights, states: torch.Tensor) -> torch.Tensor:
    """[M, K, N, N] diag(1 - tanh^2(W_rec r + b)) W_rec at states [M, K, N] under zero input: the step map's
    Jacobian is (1 - alpha) I + alpha times this, so its eigenvalues are an affine map of these. tanh(W_rec r + b)
    is rnnzoo.dynamics.step_map at alpha = 1, the one definition of the dynamics."""
    gain = 1 - step_map(weights, states, 1.0) ** 2
    return gain.unsqueeze(-1) * weights.W_rec.unsqueeze(1)


def fixed_points(weights: Weights, starts: torch.Tensor, iterations: int = FIXED_POINT_ITERATIONS,
                 max_step: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed points r* = tanh(W_rec r* + b_in + b_rec) (zero input; alpha does not move them) near starts
    [M, K, N], by Newton's method with steps capped at `max_step` in norm; returns (points [M, K, N], residuals
    |tanh(W r + b) - r| [M, K]). A start on a limit cycle's mean lands near the unstable point the cycle
    winds around."""
    r = starts.clone()
    eye = torch.eye(weights.n_units, dtype=r.dtype, device=r.device)
    for _ in range(iterations):
        residual = _fixed_point_residual(weights, r)
        jac = jacobian_core(weights, r) - eye  # d residual / d r
        step, info = torch.linalg.solve_ex(jac, -residual.unsqueeze(-1))  # no error on a singular Jacobian:
        step = torch.nan_to_num(step.squeeze(-1), nan=0.0, posinf=0.0, neginf=0.0)  # that point just stops
        step = torch.where((info == 0).unsqueeze(-1), step, torch.zeros_like(step))
        scale = (max_step / step.norm(dim=-1, keepdim=True).clamp_min(1e-12)).clamp(max=1.0)
        r = (r + scale * step).clamp(-1 + 1e-6, 1 - 1e-6)
    return r, _fixed_point_residual(weights, r).norm(dim=-1)


def _fixed_point_residual(weights: Weights, r: torch.Tensor) -> torch.Tensor:
    """F(r) - r for the step map at alpha = 1 (any alpha has the same fixed points)."""
    return step_map(weights, r, 1.0) - r


def in_chunks(features: Callable[..., torch.Tensor], weights: Weights, alpha: float | torch.Tensor,
              chunk: int = CHUNK, **kwargs: Any) -> torch.Tensor:
    """features(weights, alpha, **kwargs) computed `chunk` networks at a time (each network's features depend on
    it alone), to bound the memory the recorded rates take."""
    a = as_alpha(alpha, weights.n_networks, weights.W_rec)
    parts = [features(weights.select(list(range(lo, min(lo + chunk, weights.n_networks)))), a[lo:lo + chunk],
                      **kwargs) for lo in range(0, weights.n_networks, chunk)]
    return torch.cat(parts)


@torch.no_grad()
def spectral_features(weights: Weights, alpha: float | torch.Tensor, settle_steps: int = SETTLE_STEPS,
                      linearised: bool = True) -> torch.Tensor:
    """[M, F] eigenvalue features of W_rec and (linearised=True) of the step map's Jacobian at the fixed points found
    from the mean state over the last SETTLE_STEPS / 2 steps after a cue on either channel and after silence
    (noiseless, from r = 0), with the log residual of each fixed point. A limit cycle winds around a point with a
    complex pair outside the unit circle; a slow-point manifold holds eigenvalues near 1."""
    w = weights.to(dtype=torch.float64)
    feats = [eigen_features(w.W_rec)]
    if linearised:
        u = cue_inputs(PROBE_CUE_STEPS + settle_steps, w.n_inputs).to(torch.float64)
        _, rates = simulate(w, u, alpha)
        starts = rates[:, :, -(settle_steps // 2):].mean(2)  # [M, 3, N]
        points, residuals = fixed_points(w, starts)
        cores = jacobian_core(w, points)
        a = as_alpha(alpha, w.n_networks, w.W_rec)
        feats += [eigen_features(cores[:, k], alpha=a) for k in range(cores.shape[1])]
        feats.append(torch.log10(residuals + 1e-10))  # converged points: -10, whatever the rounding
    return torch.cat(feats, 1).float()


# ---- probing -----------------------------------------------------------------------------------------------------
def probe_inputs(n_steps: int = PROBE_STEPS, n_inputs: int = 2, n_random: int = N_RANDOM_PROBES,
                 seed: int = PROBE_SEED) -> torch.Tensor:
    """[n_inputs + 1 + n_random, n_steps, n_inputs] fixed probes: the task's cue on each channel then silence,
    silence alone, and n_random sequences of random cue-like pulses (each step, each channel on with probability
    0.05), drawn from a generator seeded with `seed`, so every network sees the same probes."""
    generator = torch.Generator().manual_seed(seed)
    pulses = (torch.rand(n_random, n_steps, n_inputs, generator=generator) < 0.05).float()
    return torch.cat([cue_inputs(n_steps, n_inputs), pulses])


@torch.no_grad()
def probe_features(weights: Weights, alpha: float | torch.Tensor, probes: torch.Tensor | None = None,
                   stride: int = PROBE_STRIDE, readout: str = "sigmoid") -> torch.Tensor:
    """[M, F] what each network does on the fixed probes (noiseless, from r = 0): its two outputs, the log of its
    speed |r[t+1] - r[t]| and its mean rate every `stride` steps of every probe, and over each probe's second half
    how the motion turns and recurs (`recurrence`). Outputs and these summaries are invariant to permuting the
    hidden units."""
    probes = probe_inputs() if probes is None else probes
    outputs, rates = simulate(weights.to(dtype=torch.float64), probes.to(torch.float64), alpha, readout=readout)
    speed = (rates[:, :, 1:] - rates[:, :, :-1]).norm(dim=-1)  # [M, P, T - 1]
    summaries = [outputs[:, :, ::stride, :].flatten(1), torch.log10(speed[:, :, ::stride] + 1e-8).flatten(1),
                 rates[:, :, ::stride].mean(-1).flatten(1), recurrence(rates[:, :, rates.shape[2] // 2:]).flatten(1)]
    return torch.cat(summaries, 1).float()


def recurrence(rates: torch.Tensor, lags: tuple[int, ...] = RECURRENCE_LAGS) -> torch.Tensor:
    """[..., 2 len(lags)] for rates [..., T, N]: the mean cosine between the velocities r[t+1] - r[t] at lag k
    (near 1 for a drift along a slow manifold, swinging negative on a cycle) and between the states' deviations
    from their mean at lag k (a cycle's period shows as a return to +1)."""
    velocity = rates[..., 1:, :] - rates[..., :-1, :]
    centred = rates - rates.mean(-2, keepdim=True)
    out = []
    for series in (velocity, centred):
        for k in lags:
            out.append(torch.nn.functional.cosine_similarity(series[..., k:, :], series[..., :-k, :], dim=-1,
                                                             eps=1e-12).mean(-1))
    return torch.stack(out, -1)


# ---- a Deep Weight Space network for RNNs -----------------------------------------------------------------------
NODE_FEATURES = 6  # W_in row (2), b_in, b_rec, W_out column (2)


def graph_of(tensors: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The weights of a stack of M networks as (edges [M, N, N, 1] = W_rec, nodes [M, N, 6]): hidden unit i carries
    its W_in row, b_in, b_rec and W_out column; permuting units permutes nodes and both edge axes alike."""
    W = torch.as_tensor(tensors["W_rec"]).float()
    nodes = torch.cat([torch.as_tensor(tensors["W_in"]).float(), torch.as_tensor(tensors["b_in"]).float()[..., None],
                       torch.as_tensor(tensors["b_rec"]).float()[..., None],
                       torch.as_tensor(tensors["W_out"]).float().transpose(-1, -2)], -1)
    return W.unsqueeze(-1), nodes


class EquivariantLayer(torch.nn.Module):
    """One linear layer from (edges [B, N, N, Ce], nodes [B, N, Cv]) to (edges', nodes') equivariant to
    edges -> P edges P^T, nodes -> P nodes: every linear map the symmetry allows (the 15 edge-to-edge basis maps of
    a matrix acted on from both sides, 5 node-to-edge, 5 edge-to-node, 2 node-to-node; Maron et al. 2019), with
    means in place of sums so that widths do not set scales. `products` adds the channel-wise matrix product of
    two edge projections (E_a E_b / N, also equivariant), which reaches powers of W_rec, hence its spectrum."""

    def __init__(self, edge_in: int, node_in: int, edge_out: int, node_out: int, products: int = 0):
        super().__init__()
        lin = torch.nn.Linear
        # edge -> edge: entry, transpose, and 7 pooled vectors broadcast along rows or columns; diagonal extras
        self.e_self, self.e_trans = lin(edge_in, edge_out), lin(edge_in, edge_out, bias=False)
        self.e_rows = lin(5 * edge_in + 2 * node_in, edge_out, bias=False)  # depends on i (the row)
        self.e_cols = lin(5 * edge_in + 2 * node_in, edge_out, bias=False)  # depends on j (the column)
        self.e_diag = lin(5 * edge_in + 2 * node_in, edge_out)  # only on the diagonal i == j
        self.products = products
        if products:
            self.prod_a, self.prod_b = lin(edge_in, products, bias=False), lin(edge_in, products, bias=False)
            self.prod_out = lin(products, edge_out, bias=False)
        # -> nodes: the node itself, and pooled edge / node vectors
        self.n_self = lin(node_in, node_out)
        self.n_pool = lin(5 * edge_in + 2 * node_in, node_out, bias=False)

    def forward(self, edges: torch.Tensor, nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, N = edges.shape[0], edges.shape[1]
        diag = edges.diagonal(dim1=1, dim2=2).transpose(1, 2)  # [B, N, C]
        row, col = edges.mean(2), edges.mean(1)  # row i's mean over j, column j's mean over i
        total, diag_mean, node_mean = edges.mean((1, 2)), diag.mean(1), nodes.mean(1)
        glob = torch.cat([total, diag_mean, node_mean], -1).unsqueeze(1).expand(B, N, -1)  # [B, N, 2Ce + Cv]
        per_unit = torch.cat([diag, row, col, nodes, glob], -1)  # [B, N, 5Ce + 2Cv]
        out = self.e_self(edges) + self.e_trans(edges.transpose(1, 2))
        out = out + self.e_rows(per_unit).unsqueeze(2) + self.e_cols(per_unit).unsqueeze(1)
        out.diagonal(dim1=1, dim2=2).add_(self.e_diag(per_unit).transpose(1, 2))  # a fresh tensor: safe in place
        if self.products:
            a = self.prod_a(edges).permute(0, 3, 1, 2)  # [B, K, N, N]
            b = self.prod_b(edges).permute(0, 3, 1, 2)
            out = out + self.prod_out((a @ b / N).permute(0, 2, 3, 1))
        nodes_out = self.n_self(nodes) + self.n_pool(per_unit)
        return out, nodes_out


class DWSNet(torch.nn.Module):
    """Equivariant layers with ReLU, then invariant pooling (mean of the off-diagonal edges, of the diagonal, and
    mean and max over nodes), extras (hyperparameter inputs) joined after pooling, and an MLP head."""

    def __init__(self, n_extras: int, n_out: int, width: int = 16, depth: int = 2, products: int = 0,
                 node_in: int = NODE_FEATURES):
        super().__init__()
        layers, e, v = [], 1, node_in
        for _ in range(depth):
            layers.append(EquivariantLayer(e, v, width, width, products))
            e = v = width
        self.layers = torch.nn.ModuleList(layers)
        self.head = torch.nn.Sequential(torch.nn.Linear(4 * width + n_extras, 2 * width), torch.nn.ReLU(),
                                        torch.nn.Linear(2 * width, n_out))

    def embed(self, edges: torch.Tensor, nodes: torch.Tensor) -> torch.Tensor:
        """[B, 4 width] invariant embedding of each network."""
        for layer in self.layers:
            edges, nodes = layer(edges, nodes)
            edges, nodes = torch.relu(edges), torch.relu(nodes)
        N = edges.shape[1]
        diag_sum = edges.diagonal(dim1=1, dim2=2).sum(-1)
        diag, off = diag_sum / N, (edges.sum((1, 2)) - diag_sum) / (N * (N - 1))
        return torch.cat([off, diag, nodes.mean(1), nodes.amax(1)], -1)

    def forward(self, edges: torch.Tensor, nodes: torch.Tensor, extras: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.embed(edges, nodes), extras], -1))
