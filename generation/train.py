"""Batched training of M networks with the paper's protocol: one program, per-network seeds and learning rates.

SGD with momentum 0.9 and weight decay 1e-7, full backpropagation through time, one full-batch step per "epoch"
(docs/science.md). Each network draws its initial weights and its noise from its own random streams and
receives its own gradient (the loss is a sum of per-network losses), so its result does not depend on which
other networks share the batch.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable, Sequence

import numpy as np
import torch

from rnnzoo.labels import paper_metrics, paper_target_class, paper_window
from rnnzoo.dynamics import (
    STREAM_INIT,
    STREAM_TRAIN,
    Weights,
    NOISE_STD,
    RATE_STD,
    stream_generator,
    task_metrics,
)
from rnnzoo.task import N_INPUTS, N_OUTPUTS, Task

MOMENTUM = 0.9
WEIGHT_DECAY = 1e-7
CURVE_NAMES = ("loss", "accuracy", "reliability", "grad_norm", "exact_accuracy", "exact_reliability")
"""Per-step curves: accuracy / reliability as the paper's code records them (rnnzoo.labels.paper_metrics: shifted
window, 4 decimals; they decide the labels), exact_* on every reaction step against its cue (task_metrics)."""


def paper_steps(lr: float, numerator: float = 30.0, minimum: int = 1000) -> int:
    """SGD steps of the paper's families: max(1000, 30 / lr) (the post-reaction family uses numerator 100)."""
    return int(max(minimum, numerator / lr))


def checkpoint_steps(total: int, factor: int = 2, first: int = 1) -> list[int]:
    """Log-spaced training checkpoints of a network trained `total` steps: 0 (the initial weights), `first` (1: the
    first step), then every `factor`-fold step count below `total`, then `total` (the final weights). factor 2
    doubles; larger factors and a later first keep fewer (the embedded sample keeps 0, 32, 1024 and the final)."""
    if factor < 2:
        raise ValueError(f"the checkpoint factor must be at least 2, got {factor}")
    if first < 1:
        raise ValueError(f"the first checkpoint after the initial weights must be at step 1 or later, got {first}")
    steps, k = [0], int(first)
    while k < total:
        steps.append(k)
        k *= factor
    return steps + [int(total)] if total > 0 else steps


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


def flops_per_network_step(task: Task, n_units: int = 100) -> float:
    """Multiply-add FLOPs of one full-batch SGD step of one network as loss_and_grads computes it: the forward
    updates ([r u 1] @ [W_rec^T; W_in^T; b]), the readout, the carried gradient and the one weight-gradient product."""
    B, T, N, I, O = task.n_trials, task.n_steps, n_units, N_INPUTS, N_OUTPUTS
    forward = 2 * B * (T - 1) * (N + I + 1) * N
    readout = 2 * B * T * N * O
    backward = 2 * B * (T - 1) * (N + O) * N
    weight_grads = 2 * B * T * (N + O) * (N + I + 1)
    return float(forward + readout + backward + weight_grads)


def workspace_bytes(task: Task, n_networks: int, n_units: int = 100, dtype: torch.dtype = torch.float32) -> int:
    """Peak bytes of the trainer's buffers for n_networks trained together (workspace, parameters, SGD state,
    per-step temporaries and curves): what bounds a job's memory."""
    B, T, N, I, O = task.n_trials, task.n_steps, n_units, N_INPUTS, N_OUTPUTS
    per_network = (B * N * (1 + T)  # draws (noise, then tanh and its slope)
                   + T * B * (N + I + 1) + T * B * (N + O)  # rates and deltas
                   + 3 * O * T * B  # outputs, errors, dz
                   + 4 * (N * (N + I + 2) + O * (N + 1))  # parameters, gradients, momentum, stacked weights
                   + 2 * B * N)  # carried gradient, temporaries
    return int(per_network * n_networks * torch.finfo(dtype).bits // 8)


def free_memory(device: torch.device | str) -> int:
    """Bytes available for a job on this device: CUDA's free memory, or the host's MemAvailable."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30  # no /proc (not Linux): assume 4 GiB


def networks_per_batch(task: Task, device: torch.device | str, n_units: int = 100, dtype: torch.dtype = torch.float32,
                       memory_fraction: float | None = None) -> int:
    """How many networks to train together so the trainer's buffers use at most memory_fraction of the free
    memory of the device (at least one). None: $RNNZOO_MEMORY_FRACTION, else 0.5 (engines that share a GPU
    between jobs lower it)."""
    if memory_fraction is None:
        memory_fraction = float(os.environ.get("RNNZOO_MEMORY_FRACTION", "0.5"))
    budget = free_memory(device) * memory_fraction
    return max(1, int(budget // max(1, workspace_bytes(task, 1, n_units, dtype))))


@dataclass
class TrainResult:
    """Trained weights (on the CPU, float32) and per-step curves, one array per network of its own length."""

    weights: Weights
    curves: dict[str, list[np.ndarray]]
    batch_size: int = 0  # networks trained together (the job may be cut into several batches)
    peak_bytes: int = 0  # the trainer's buffers at the largest batch (workspace_bytes)
    checkpoints: list[tuple[list[int], Weights]] | None = None  # per network: steps and their weights [K, ...]
    early_stopped: list[bool] | None = None  # per network: stopped because its loss exceeded stop_loss


def _flat_layout(n_units: int, n_inputs: int, n_outputs: int) -> dict[str, tuple[int, tuple[int, ...]]]:
    """Offset and shape of each parameter inside one network's flat parameter vector."""
    layout, offset = {}, 0
    for name, shape in Weights.shapes(n_units, n_inputs, n_outputs).items():
        layout[name] = (offset, shape)
        offset += math.prod(shape)
    return layout


def _views(flat: torch.Tensor, layout: dict[str, tuple[int, tuple[int, ...]]]) -> dict[str, torch.Tensor]:
    """Per-parameter views [M, *shape] into a flat [M, P] tensor (no copies)."""
    return {name: flat[:, o : o + math.prod(s)].view(flat.shape[0], *s) for name, (o, s) in layout.items()}


class _Workspace:
    """Buffers of one forward/backward pass, reused across steps and sliced to the networks still training.

    rates: [M, T, B, N + I + 1] holds r[t] in its first N columns and, fixed, u[t] and a constant 1 in the last
    I + 1, so one product with [W_rec^T; W_in^T; b] is a whole update's pre-activation, and one product of
    `delta` with `rates` is every gradient. delta: [M, T, B, N + O] holds dLoss/dpre[t] (zero at t = T - 1, whose
    update is never read) and dLoss/dz[t] of the readout's pre-sigmoid. draws: each network's random normals.
    """

    def __init__(self, M: int, task: Task, N: int, device, dtype) -> None:
        T, B = task.n_steps, task.n_trials
        u = task.inputs(device, dtype).transpose(0, 1)  # [T, B, I]
        I, O = u.shape[-1], N_OUTPUTS
        self.rates = torch.empty(M, T, B, N + I + 1, device=device, dtype=dtype)
        self.rates[..., N : N + I] = u
        self.rates[..., N + I] = 1.0
        self.delta = torch.zeros(M, T, B, N + O, device=device, dtype=dtype)
        # One network's random draws: B*N normals for r[0], then T*B*N for the noise in [T, B, N] order (time-major,
        # so the noise of step t is a contiguous block that the update overwrites with tanh(pre[t]), then its slope).
        self.shape = (M, T, B, N)
        self.use(torch.empty(M, B * N * (1 + T), device=device, dtype=dtype))

    def use(self, draws: torch.Tensor) -> None:
        """Point the workspace at a buffer of random draws (double-buffered while the next step's are drawn)."""
        M, T, B, N = self.shape
        self.draws = draws
        self.act = draws[:, B * N :].view(M, T, B, N)

    def part(self, lo: int, hi: int) -> SimpleNamespace:
        """The buffers of networks lo..hi-1 (for training a share of the batch on another thread)."""
        return SimpleNamespace(rates=self.rates[lo:hi], delta=self.delta[lo:hi], draws=self.draws[lo:hi],
                               act=self.act[lo:hi])


def loss_and_grads(
    p: dict[str, torch.Tensor],
    grads: dict[str, torch.Tensor],
    targets: torch.Tensor,
    step_weights: torch.Tensor,
    alpha: float,
    noise_std: float,
    rate_std: float,
    ws: _Workspace,
    readout: str = "sigmoid",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-network weighted MSE [M] and outputs [M, O, T, B] of rnnzoo.dynamics.simulate, with the exact gradient
    of the summed losses written into `grads`: backpropagation through time written out by hand (no autograd
    graph), every product batched over the M networks.

    targets: [O, T, B]. ws.draws[:M] holds each network's standard normals: r[0] = tanh(rate_std * first B*N),
    the rest (time-major) is the pre-activation noise divided by noise_std. readout: "sigmoid" or "linear"
    (rnnzoo.dynamics.readout), the outputs' map from W_out r + b_out and hence the readout gradient.
    """
    M, N = p["W_rec"].shape[:2]
    O, T, B = targets.shape
    I = p["W_in"].shape[-1]
    RA, DZ, H = ws.rates[:M], ws.delta[:M], ws.act[:M]
    R = RA[..., :N]
    W_fwd = torch.cat([p["W_rec"].transpose(1, 2), p["W_in"].transpose(1, 2), (p["b_in"] + p["b_rec"]).unsqueeze(1)], 1)
    W_bwd = torch.cat([p["W_rec"], p["W_out"]], 1)  # [M, N + O, N]

    # Forward: pre[t] = [r u 1][t] @ W_fwd + noise_std * noise[t]; r[t + 1] = r[t] + alpha (tanh(pre[t]) - r[t]).
    torch.tanh(ws.draws[:M, : B * N].view(M, B, N) * rate_std, out=R[:, 0])
    for t in range(T - 1):
        h = H[:, t]
        h.baddbmm_(RA[:, t], W_fwd, beta=noise_std)
        h.tanh_()
        torch.lerp(R[:, t], h, alpha, out=R[:, t + 1])
        torch.addcmul(torch.tensor(alpha, dtype=h.dtype, device=h.device), h, h, value=-alpha, out=h)  # slope
    R_flat = R.reshape(M, T * B, N)
    outputs = torch.bmm(p["W_out"], R_flat.transpose(1, 2)).add_(p["b_out"].unsqueeze(2))
    if readout == "sigmoid":
        outputs = torch.sigmoid(outputs)
    elif readout != "linear":
        raise ValueError(f"readout must be 'sigmoid' or 'linear', got {readout!r}")
    outputs = outputs.view(M, O, T, B)
    err = outputs - targets
    w = step_weights.view(1, 1, T, 1)
    scale = 1.0 / (T * B * O)
    losses = (err.square() * w).sum(dim=(1, 2, 3)) * scale
    dz = err * w * (2 * scale)  # dLoss/d(output); times the sigmoid's slope: dLoss/d(W_out r + b_out), [M, O, T, B]
    if readout == "sigmoid":
        dz = dz * outputs * (1 - outputs)
    DZ[..., N:] = dz.permute(0, 2, 3, 1)

    # Backward through time: g = dLoss/dr[t + 1]; dpre[t] = g * slope[t]; g <- (1 - alpha) g + [dpre dz][t] W_bwd.
    g = torch.bmm(DZ[:, T - 1], W_bwd)
    for t in range(T - 2, -1, -1):
        torch.mul(g, H[:, t], out=DZ[:, t, :, :N])
        if t > 0:
            g.baddbmm_(DZ[:, t], W_bwd, beta=1.0 - alpha)
    full = torch.bmm(DZ.view(M, T * B, N + O).transpose(1, 2), RA.view(M, T * B, N + I + 1))  # [M, N+O, N+I+1]
    grads["W_rec"].copy_(full[:, :N, :N])
    grads["W_in"].copy_(full[:, :N, N : N + I])
    grads["b_rec"].copy_(full[:, :N, N + I])
    grads["b_in"].copy_(full[:, :N, N + I])
    grads["W_out"].copy_(full[:, N:, :N])
    grads["b_out"].copy_(full[:, N:, N + I])
    return losses, outputs


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
    threads: int | None = 1,
    max_batch: int | None = None,
    scored_window: slice | None = None,
    checkpoint_factor: int | None = None,
    stop_loss: float | None = None,
    checkpoint_first: int = 1,
) -> TrainResult:
    """Train len(seeds) networks on one task in one batched program.

    Network m starts from init_network(seeds[m]), trains for steps[m] full-batch SGD steps at learning rate lrs[m]
    and draws its initial rates and noise from its own TRAIN stream. Networks that finish early leave the batch.
    on_step(step, n_active) is called after every step (for progress bars). threads: torch's intra-op threads on
    the CPU during the call (None: leave torch's setting). One by default: with two, every large elementwise op
    waits at an OpenMP barrier whenever another process holds a core (measured 6x slower on a shared 2-core box);
    instead the batch is split over $RNNZOO_TRAIN_THREADS Python threads (default min(2, cores)) and the noise is
    drawn on one more, and worker processes (generation/run.py --workers) use more cores. max_batch: most networks trained together
    (None: as many as fit in half the device's free memory, networks_per_batch); a network's result does not
    depend on it. scored_window: the steps the paper's accuracy curve scores (default rnnzoo.labels.paper_window(task);
    the long-tau family passes its 40 ms delay grid). checkpoint_factor: also return each network's weights at
    checkpoint_steps(steps[m], checkpoint_factor, checkpoint_first) (0 = initial; the last is the final weights);
    None: none.
    stop_loss: a network whose loss exceeds it leaves the batch after that step (the no-memory control's early stop
    at 100, as the reference stops): its curves end with that step, its weights are those after it, and
    early_stopped marks it. None: every network trains its steps (NaN losses never stop a network either way).
    The outputs are read out as task.readout says (sigmoid or linear).
    """
    M = len(seeds)
    if not (len(lrs) == len(steps) == M):
        raise ValueError(f"seeds, lrs and steps must have one entry per network, got {M}, {len(lrs)}, {len(steps)}")
    if M == 0:
        raise ValueError("train_population needs at least one network")
    if max_batch is None:
        max_batch = networks_per_batch(task, device, n_units, dtype)
    if max_batch < 1:
        raise ValueError(f"max_batch must be at least 1, got {max_batch}")
    if M > max_batch:
        parts = [train_population(seeds[i : i + max_batch], lrs[i : i + max_batch], steps[i : i + max_batch], task,
                                  alpha, n_units=n_units, device=device, dtype=dtype, momentum=momentum,
                                  weight_decay=weight_decay, on_step=on_step, threads=threads, max_batch=max_batch,
                                  scored_window=scored_window, checkpoint_factor=checkpoint_factor,
                                  stop_loss=stop_loss, checkpoint_first=checkpoint_first)
                 for i in range(0, M, max_batch)]
        return TrainResult(weights=Weights.cat([p.weights for p in parts]),
                           curves={k: [c for p in parts for c in p.curves[k]] for k in CURVE_NAMES},
                           batch_size=max_batch, peak_bytes=max(p.peak_bytes for p in parts),
                           checkpoints=None if checkpoint_factor is None else
                           [c for p in parts for c in p.checkpoints],
                           early_stopped=[e for p in parts for e in p.early_stopped])
    if threads is not None and torch.device(device).type == "cpu" and torch.get_num_threads() != threads:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return train_population(seeds, lrs, steps, task, alpha, n_units=n_units, device=device, dtype=dtype,
                                    momentum=momentum, weight_decay=weight_decay, on_step=on_step, threads=threads,
                                    max_batch=max_batch, scored_window=scored_window,
                                    checkpoint_factor=checkpoint_factor, stop_loss=stop_loss,
                                    checkpoint_first=checkpoint_first)
        finally:
            torch.set_num_threads(previous)
    M = len(seeds)
    alphas = {float(a) for a in np.asarray(alpha, dtype=np.float64).reshape(-1)}
    if len(alphas) != 1:
        raise ValueError(f"train_population trains networks of one alpha = dt / tau at a time, got {sorted(alphas)}; "
                         "split them into one call per alpha (a job is one family, hence one alpha)")
    alpha = alphas.pop()
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha = dt / tau must lie in (0, 1], got {alpha}")
    # Longest-training networks first, so the networks still training are always a leading slice.
    order = sorted(range(M), key=lambda m: -int(steps[m]))
    init = init_population([seeds[m] for m in order], n_units)
    layout = _flat_layout(n_units, init.n_inputs, init.n_outputs)
    flat = torch.cat([v.reshape(M, -1) for v in init.tensors().values()], dim=1).to(device, dtype).contiguous()
    flat_grad, buffer = torch.zeros_like(flat), torch.zeros_like(flat)
    lr = torch.tensor([float(lrs[m]) for m in order], dtype=dtype, device=device).view(M, 1)
    n_steps = [int(steps[m]) for m in order]
    generators = [stream_generator(seeds[m], STREAM_TRAIN, device) for m in order]

    targets = task.targets(device, dtype).permute(2, 1, 0).contiguous()  # [O, T, B]
    step_weights, cues = task.loss_weights(device, dtype), task.cues(device)
    scored = paper_window(task) if scored_window is None else scored_window
    scored_class = paper_target_class(task, scored, device)  # [B, W]
    ws = _Workspace(M, task, n_units, device, dtype)
    curves = torch.full((len(CURVE_NAMES), M, max(n_steps)), float("nan"), dtype=dtype, device=device)

    n_active = np.array([sum(1 for s in n_steps if s > k) for k in range(max(n_steps))], dtype=np.int64)
    early = [False] * M
    # Checkpoints: snapshots of the flat parameters (on the CPU) of the networks that reach step k, k = 0 before
    # training. A snapshot is a copy, so it does not change the training's numbers.
    wanted = None if checkpoint_factor is None else [set(checkpoint_steps(s, checkpoint_factor, checkpoint_first))
                                                   for s in n_steps]
    snapshots: list[list[torch.Tensor]] = [[] for _ in range(M)]

    def snapshot(done: int) -> None:
        if wanted is None:
            return
        for m in range(M):
            if done in wanted[m]:
                snapshots[m].append(flat[m].to("cpu", torch.float32, copy=True))

    snapshot(0)

    def draw(buffer: torch.Tensor, n: int) -> None:
        for m in range(n):  # each network's own stream: B*N normals for r[0], then T*B*N noise, time-major
            torch.randn(buffer.shape[1], generator=generators[m], out=buffer[m])

    # On a CPU the next step's draws are made on another thread while this step computes (same draws, same order),
    # and the batch is cut into `shares` parts computed on as many threads (every product and elementwise op is per
    # network, so a network's numbers do not depend on the cut).
    on_cpu = torch.device(device).type == "cpu"
    shares = max(1, int(os.environ.get("RNNZOO_TRAIN_THREADS", min(2, os.cpu_count() or 1)))) if on_cpu else 1
    intra = torch.get_num_threads()
    prefetch = ThreadPoolExecutor(1, initializer=torch.set_num_threads, initargs=(intra,)) if on_cpu else None
    splitter = (ThreadPoolExecutor(shares, initializer=torch.set_num_threads, initargs=(intra,))
                if shares > 1 else None)
    buffers = [ws.draws, torch.empty_like(ws.draws)] if prefetch else [ws.draws]
    pending = prefetch.submit(draw, buffers[0], n_active[0]) if prefetch else None
    try:
        for k in range(len(n_active)):
            n = int(n_active[k])
            if n == 0:  # every network stopped early
                break
            params, grads = _views(flat[:n], layout), _views(flat_grad[:n], layout)
            if prefetch:
                pending.result()
                ws.use(buffers[k % 2])
                if k + 1 < len(n_active):
                    pending = prefetch.submit(draw, buffers[(k + 1) % 2], n_active[k + 1])
            else:
                draw(ws.draws, n)
            if splitter is not None and n >= 2 * shares:
                cuts = [n * i // shares for i in range(shares + 1)]
                futures = [splitter.submit(loss_and_grads, _views(flat[lo:hi], layout),
                                           _views(flat_grad[lo:hi], layout), targets, step_weights, alpha,
                                           NOISE_STD, RATE_STD, ws.part(lo, hi), task.readout)
                           for lo, hi in zip(cuts[:-1], cuts[1:])]
                parts = [f.result() for f in futures]
                losses, outputs = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
            else:
                losses, outputs = loss_and_grads(params, grads, targets, step_weights, alpha, NOISE_STD, RATE_STD,
                                                 ws, task.readout)
            window = outputs[:, :, scored].permute(0, 3, 2, 1)  # [M, B, steps, O]
            accuracy, reliability = paper_metrics(window, scored_class)
            exact = outputs[:, :, task.reaction_window].permute(0, 3, 2, 1)
            exact_accuracy, exact_reliability = task_metrics(exact, cues, slice(None))
            grad_norm = grads["W_rec"].flatten(1).norm(dim=1)
            curves[:, :n, k] = torch.stack([losses, accuracy, reliability, grad_norm, exact_accuracy,
                                            exact_reliability])
            # torch.optim.SGD: d_p = grad + wd * p; buf = momentum * buf + d_p (buf = d_p at the first step);
            # p -= lr * buf.
            p, buf, d_p = flat[:n], buffer[:n], flat_grad[:n].add_(flat[:n], alpha=weight_decay)
            if k == 0:
                buf.copy_(d_p)
            else:
                buf.mul_(momentum).add_(d_p)
            p.sub_(lr[:n] * buf)
            stopped = [] if stop_loss is None else torch.nonzero(losses > stop_loss).flatten().tolist()
            for i in stopped:  # done after this step: its curves and weights end here, and it takes a final snapshot
                n_active[k + 1 : n_steps[i]] -= 1
                n_steps[i], early[i] = k + 1, True
                if wanted is not None:
                    wanted[i] = {s for s in wanted[i] if s <= k + 1} | {k + 1}
            snapshot(k + 1)
            if stopped:
                # Keep the networks still training a leading slice: move the stopped ones behind them (a stable
                # partition of the first n positions, so the rest stay longest-first) and carry every per-position
                # state along, the draws already made for the next step included.
                gone = set(stopped)
                keep = [i for i in range(n) if i not in gone] + stopped
                perm = torch.as_tensor(keep, device=flat.device)
                for state in (flat, buffer, lr):
                    state[:n] = state[:n][perm]
                curves[:, :n] = curves[:, :n][:, perm]
                if prefetch and k + 1 < len(n_active):
                    pending.result()
                    nxt = buffers[(k + 1) % 2]
                    nxt[:n] = nxt[:n][perm.to(nxt.device)]
                for items in (generators, order, n_steps, early, snapshots) + ((wanted,) if wanted is not None else ()):
                    items[:n] = [items[i] for i in keep]
            if on_step is not None:
                on_step(k, n)
    finally:
        for pool in (prefetch, splitter):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    inverse = np.argsort(order)
    index = torch.as_tensor(inverse, device=flat.device)
    final = Weights(**{k: v[index] for k, v in _views(flat, layout).items()}).to("cpu", torch.float32)
    curves_np = curves.cpu().numpy().astype(np.float32)
    out = {name: [curves_np[c, i, : n_steps[i]] for i in inverse] for c, name in enumerate(CURVE_NAMES)}
    checkpoints = None
    if wanted is not None:
        checkpoints = []
        for i in inverse:
            stack = torch.stack(snapshots[i])  # [K, P]
            views = _views(stack, layout)
            checkpoints.append((sorted(wanted[i]), Weights(**{k: views[k].clone() for k in Weights.names()})))
    return TrainResult(weights=final, curves=out, batch_size=M,
                       peak_bytes=workspace_bytes(task, M, n_units, dtype), checkpoints=checkpoints,
                       early_stopped=[early[i] for i in inverse])
