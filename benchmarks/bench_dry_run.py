"""How much other work on the machine moves the dry run's speed calibration: the wall-clock calibration it used
before against the CPU-clock one it uses now, each repeated with and without busy processes beside it.

    python benchmarks/bench_dry_run.py [--repeats 5] [--busy 2]

Prints, per calibration, the GFLOP/s of every repeat and the ratio of the largest to the smallest across both
conditions (1.0 = load does not move it). Measured side by side in one run; never asserted.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generation.numerics import pin_cpu_numerics  # noqa: E402

pin_cpu_numerics()

import torch  # noqa: E402

from generation.run import measured_flops  # noqa: E402
from generation.train import flops_per_network_step, train_population  # noqa: E402
from rnnzoo.task import Task  # noqa: E402


def wall_clock_flops(device: torch.device, n_networks: int = 8, steps: int = 3) -> float:
    """The former calibration: one timed batch on the wall clock, torch's default threads."""
    task = Task(delay_ms=40)
    train_population([0], [0.1], [1], task, 0.5, device=device)
    started = time.perf_counter()
    train_population(list(range(n_networks)), [0.1] * n_networks, [steps] * n_networks, task, 0.5, device=device)
    return flops_per_network_step(task) * n_networks * steps / (time.perf_counter() - started)


def spin(stop) -> None:
    x = 0.0
    while not stop.is_set():
        x += 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--busy", type=int, default=2, help="busy processes beside the loaded repeats")
    args = parser.parse_args()
    device = torch.device("cpu")
    results = {"wall clock (before)": [], "CPU clock (now)": []}
    for loaded in (False, True):
        stop = mp.Event()
        workers = [mp.Process(target=spin, args=(stop,)) for _ in range(args.busy if loaded else 0)]
        for w in workers:
            w.start()
        try:
            for _ in range(args.repeats):  # interleaved, so both see the same machine
                results["wall clock (before)"].append((loaded, wall_clock_flops(device)))
                results["CPU clock (now)"].append((loaded, measured_flops(device)))
        finally:
            stop.set()
            for w in workers:
                w.join()
    for name, values in results.items():
        speeds = [v for _, v in values]
        idle = [f"{v / 1e9:.1f}" for loaded, v in values if not loaded]
        busy = [f"{v / 1e9:.1f}" for loaded, v in values if loaded]
        print(f"{name:>20}: idle {', '.join(idle)}; with {args.busy} busy processes {', '.join(busy)} GFLOP/s; "
              f"largest / smallest {max(speeds) / min(speeds):.2f}")


if __name__ == "__main__":
    main()
