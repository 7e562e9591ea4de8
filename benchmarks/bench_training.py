"""Batched trainer versus a per-network torch.nn + torch.optim loop, on the same networks and steps, in one run.

    python benchmarks/bench_training.py                 # a few minutes on a 2-core CPU
    python benchmarks/bench_training.py --device cuda --networks 1000 --loop-networks 4
    python benchmarks/bench_training.py --numerics      # also: pinned against unpinned CPU numerics, side by side

The batched trainer runs with generation's pinned CPU numerics (generation/numerics.py), as generation/run.py runs
it; --unpinned lets ATen and MKL pick this CPU's own paths instead.

Prints network-steps per second of both, their ratio, the achieved FLOP/s of both against this device's
large-matmul FLOP/s, and the projected wall time of the `paper` and `full` presets on this device (the measured
seconds per network-step at each trial length, times the network-steps of each preset; see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generation.numerics import pin_cpu_numerics  # noqa: E402  (imports no torch)

if "--unpinned" not in sys.argv:
    pin_cpu_numerics(strict=False)  # before torch starts, as generation/run.py does

import torch  # noqa: E402

from generation.presets import PRESETS  # noqa: E402
from generation.train import flops_per_network_step, init_network, train_population  # noqa: E402
from rnnzoo.dynamics import NOISE_STD, RATE_STD, STREAM_TRAIN, stream_generator  # noqa: E402
from rnnzoo.task import Task  # noqa: E402


class ReferenceRNN(torch.nn.Module):
    """The reference scripts' style: one torch.nn model per network, nn.Linear layers, autograd, torch.optim."""

    def __init__(self, n_units: int = 100, alpha: float = 0.5) -> None:
        super().__init__()
        self.alpha = alpha
        self.W_in = torch.nn.Linear(2, n_units)
        self.W_rec = torch.nn.Linear(n_units, n_units)
        self.W_out = torch.nn.Linear(n_units, 2)

    def forward(self, u: torch.Tensor, r: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        outs = []
        for t in range(u.shape[1]):
            outs.append(torch.sigmoid(self.W_out(r)))
            r = (1 - self.alpha) * r + self.alpha * torch.tanh(self.W_rec(r) + self.W_in(u[:, t]) + noise[:, t])
        return torch.stack(outs, 1)


def reference_train(seed: int, lr: float, task: Task, steps: int, device: torch.device) -> ReferenceRNN:
    """Train one network alone, as the reference scripts do (same initial weights and noise as the batched one)."""
    w = init_network(seed)
    model = ReferenceRNN()
    with torch.no_grad():
        for name, layer in (("in", model.W_in), ("rec", model.W_rec), ("out", model.W_out)):
            layer.weight.copy_(getattr(w, f"W_{name}")[0])
            layer.bias.copy_(getattr(w, f"b_{name}")[0])
    model = model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-7)
    gen = stream_generator(seed, STREAM_TRAIN, device)
    u, y, wt = task.inputs(device), task.targets(device), task.loss_weights(device)
    B, T, N = task.n_trials, task.n_steps, 100
    for _ in range(steps):
        draws = torch.randn(B * N + B * T * N, generator=gen, device=device)
        r0 = torch.tanh(RATE_STD * draws[: B * N].reshape(B, N))
        noise = NOISE_STD * draws[B * N :].reshape(T, B, N).transpose(0, 1)
        opt.zero_grad()
        loss = (wt.view(1, -1, 1) * (model(u, r0, noise) - y) ** 2).mean()
        loss.backward()
        opt.step()
    return model


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_flops(device: torch.device, size: int = 2048, repeats: int = 10) -> float:
    """FLOP/s of a large square float32 matmul on this device (the roofline we compare against)."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def time_batched(task: Task, n_networks: int, steps: int, device: torch.device) -> float:
    """Seconds per network-step of the batched trainer."""
    seeds = list(range(n_networks))
    lrs = [0.1 * 0.8 ** (m % 10) for m in seeds]
    train_population(seeds[:2], lrs[:2], [1, 1], task, 0.5, device=device)  # warm-up
    sync(device)
    start = time.perf_counter()
    train_population(seeds, lrs, [steps] * n_networks, task, 0.5, device=device)
    sync(device)
    return (time.perf_counter() - start) / (n_networks * steps)


def time_loop(task: Task, n_networks: int, steps: int, device: torch.device, threads: int | None = None) -> float:
    """Seconds per network-step of the per-network torch.nn loop (with `threads` intra-op threads on a CPU)."""
    previous = torch.get_num_threads()
    if threads and device.type == "cpu":
        torch.set_num_threads(threads)
    try:
        reference_train(0, 0.1, task, 1, device)  # warm-up
        sync(device)
        start = time.perf_counter()
        for m in range(n_networks):
            reference_train(m, 0.1 * 0.8 ** (m % 10), task, steps, device)
        sync(device)
        return (time.perf_counter() - start) / (n_networks * steps)
    finally:
        torch.set_num_threads(previous)


def preset_network_steps_by_length(name: str) -> dict[int, int]:
    """Network-steps of a preset grouped by trial length (steps per trial)."""
    by_length: dict[int, int] = {}
    for job in PRESETS[name].jobs():
        by_length[job.task.n_steps] = by_length.get(job.task.n_steps, 0) + job.network_steps
    return by_length


def project(name: str, seconds_at: dict[int, float]) -> float:
    """Projected seconds for a preset: per trial length, network-steps times the seconds per network-step, the
    latter interpolated linearly in the trial length between the measured lengths (cost is linear in T)."""
    lengths = sorted(seconds_at)
    total = 0.0
    for T, network_steps in preset_network_steps_by_length(name).items():
        if len(lengths) == 1:
            s = seconds_at[lengths[0]] * T / lengths[0]
        else:
            lo, hi = lengths[0], lengths[-1]
            slope = (seconds_at[hi] - seconds_at[lo]) / (hi - lo)
            s = seconds_at[lo] + slope * (T - lo)
        total += network_steps * s
    return total


def hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds < 3600 * 48 else f"{seconds / 86400:,.1f} days"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--networks", type=int, default=48, help="networks in the batched run")
    parser.add_argument("--loop-networks", type=int, default=3, help="networks trained one by one by the loop")
    parser.add_argument("--steps", type=int, default=10, help="SGD steps per network")
    parser.add_argument("--delays", type=int, nargs="+", default=[40, 200], help="delays (ms) to measure at")
    parser.add_argument("--unpinned", action="store_true",
                        help="train with this CPU's own ATen / MKL paths instead of generation's pinned numerics")
    parser.add_argument("--numerics", action="store_true",
                        help="also time the trainer pinned against unpinned, interleaved in child processes "
                             "(benchmarks/bench_numerics.py: same bits on every AVX2 path, and what the pins cost)")
    parser.add_argument("--skip-default-threads", action="store_true",
                        help="on a CPU, do not also time the loop at torch's default thread count")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    default_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    peak1 = matmul_flops(device)
    torch.set_num_threads(default_threads)
    peak = matmul_flops(device)
    if device.type == "cuda":
        print(f"device {torch.cuda.get_device_name(device)}, large-matmul {peak / 1e9:,.1f} GFLOP/s")
    else:
        print(f"device cpu: large-matmul {peak1 / 1e9:,.1f} GFLOP/s on 1 thread, {peak / 1e9:,.1f} GFLOP/s on "
              f"{default_threads} threads. The batched trainer uses its defaults (1 intra-op thread, the batch split over "
              f"$RNNZOO_TRAIN_THREADS threads, noise drawn on another); 'loop' is the per-network loop on 1 thread "
              f"(its best here), 'loop@{default_threads}' on torch's default threads.")
        peak = max(peak, peak1)
    print(f"{'delay':>6} {'T':>4} {'batched ms/net-step':>20} {'loop ms/net-step':>17} {'speed-up':>9} "
          f"{'batched GFLOP/s':>16} {'loop GFLOP/s':>13} {'batched % peak':>15}")
    seconds_at = {}
    for delay in args.delays:
        task = Task(delay_ms=delay)
        flops = flops_per_network_step(task)
        loop = time_loop(task, args.loop_networks, args.steps, device, threads=1)
        batched = time_batched(task, args.networks, args.steps, device)
        seconds_at[task.n_steps] = batched
        print(f"{delay:>6} {task.n_steps:>4} {batched * 1e3:>20.3f} {loop * 1e3:>17.3f} {loop / batched:>8.1f}x "
              f"{flops / batched / 1e9:>16.2f} {flops / loop / 1e9:>13.2f} {100 * flops / batched / peak:>14.1f}%")
        if device.type == "cpu" and default_threads > 1 and not args.skip_default_threads:
            slow = time_loop(task, 1, max(2, args.steps // 3), device, threads=default_threads)
            print(f"{'':>6} {'':>4} {'loop@' + str(default_threads):>20} {slow * 1e3:>17.3f} {slow / batched:>8.1f}x "
                  f"{'':>16} {flops / slow / 1e9:>13.2f}")
    for name in ("paper", "full"):
        n = PRESETS[name].size
        print(f"projected {name}: {n:,} networks, {hours(project(name, seconds_at))} on this {device.type} "
              f"(batches of {args.networks} networks)")
    if args.numerics and device.type == "cpu":
        from benchmarks.bench_numerics import main as bench_numerics

        print("\npinned against unpinned CPU numerics (the batched trainer in child processes):")
        bench_numerics(["--networks", "8", "--steps", str(max(args.steps, 20)), "--growth"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
