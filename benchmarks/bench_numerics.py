"""Pinned CPU numerics: same bits on every AVX2 path, what the pin costs in speed, and how fast a 1e-7 grows.

    python benchmarks/bench_numerics.py                 # about two minutes on an idle 2-core CPU
    python benchmarks/bench_numerics.py --repeats 5 --steps 40

Every figure comes from child processes, because ATen and MKL choose their code paths once, when torch starts:
- bits: the same short training under (a) the pins on this CPU as it is, (b) the pins with MKL and oneDNN capped at
  AVX2 as on an AVX2-only machine, (c) no pins (this CPU's own choice); prints each run's sha256;
- speed: network-steps per second of the batched trainer, pinned and unpinned, interleaved `--repeats` times;
- growth: the largest weight difference between a pinned and an unpinned training of the same networks after
  1, 10, 100 and 1000 SGD steps (starting from ~1 ulp), and what it does to the stored metrics.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from generation.numerics import OPT_OUT, PINNED_ENV  # noqa: E402  (imports no torch)

AVX2_CAP = {"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
UNPINNED = {OPT_OUT: "1"}

CHILD = r"""
import hashlib, json, sys, time
sys.path.insert(0, {repo!r})
from generation.numerics import pin_cpu_numerics
pin_cpu_numerics()
import torch
from generation.train import train_population
from rnnzoo.simulation import run_task
from rnnzoo.task import Task
args = json.loads({args!r})
task = Task(delay_ms=args["delay"])
seeds = list(range(args["networks"]))
lrs = [args["lr"]] * len(seeds)
out = {{"capability": torch.backends.cpu.get_cpu_capability(), "runs": []}}
for steps in args["steps"]:
    started = time.perf_counter()
    result = train_population(seeds, lrs, [steps] * len(seeds), task, 0.5)
    seconds = time.perf_counter() - started
    digest = hashlib.sha256(b"".join(t.contiguous().numpy().tobytes() for t in result.weights)).hexdigest()
    sim = run_task(result.weights, task, 0.5, seeds)
    out["runs"].append({{"steps": steps, "seconds": seconds, "sha256": digest,
                         "weights": [t.flatten().tolist() for t in result.weights],
                         "accuracy": sim.accuracy.tolist(), "loss": sim.loss.tolist()}})
print(json.dumps(out))
"""


def child(env_extra: dict[str, str], **args) -> dict:
    """Train in a fresh interpreter whose environment is this one's, less every numerics setting, plus env_extra."""
    env = {k: v for k, v in os.environ.items() if k not in PINNED_ENV and k not in AVX2_CAP and k != OPT_OUT}
    env.update(env_extra)
    code = CHILD.format(repo=str(REPO), args=json.dumps(args))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def max_difference(a: dict, b: dict) -> float:
    return max(abs(x - y) for ta, tb in zip(a["weights"], b["weights"]) for x, y in zip(ta, tb))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay", type=int, default=50, help="delay (ms) of the task trained on")
    parser.add_argument("--networks", type=int, default=4, help="networks trained together")
    parser.add_argument("--steps", type=int, default=30, help="SGD steps of the bits and speed runs")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved pinned / unpinned speed runs")
    parser.add_argument("--growth", type=int, nargs="*", default=[1, 10, 100, 1000],
                        help="step counts at which the pinned-unpinned weight difference is measured")
    args = parser.parse_args(argv)
    common = dict(delay=args.delay, networks=args.networks, lr=0.1)

    print(f"pinned settings: {' '.join(f'{k}={v}' for k, v in PINNED_ENV.items())}")
    print(f"\nbits ({args.networks} networks, {args.steps} SGD steps, delay {args.delay} ms):")
    runs = {"pinned, this CPU as it is": child({}, steps=[args.steps], **common),
            "pinned, capped at AVX2 (an AVX2-only machine)": child(AVX2_CAP, steps=[args.steps], **common),
            "unpinned (this CPU's own choice)": child(UNPINNED, steps=[args.steps], **common)}
    for name, run in runs.items():
        print(f"  {name:<48} ATen {run['capability']:<7} sha256 {run['runs'][0]['sha256'][:16]}")
    a, b, c = (r["runs"][0]["sha256"] for r in runs.values())
    print(f"  pinned == capped: {a == b};  pinned == unpinned: {a == c}")

    print(f"\nspeed ({args.repeats} interleaved repeats; network-steps per second, higher is better):")
    rates: dict[str, list[float]] = {"pinned": [], "unpinned": []}
    for _ in range(args.repeats):
        for name, extra in (("pinned", {}), ("unpinned", UNPINNED)):
            run = child(extra, steps=[args.steps], **common)["runs"][0]
            rates[name].append(args.networks * args.steps / run["seconds"])
    best = {k: max(v) for k, v in rates.items()}
    print("  " + "   ".join(f"{k}: best {best[k]:.1f}, runs {', '.join(f'{x:.1f}' for x in v)}" for k, v in rates.items()))
    print(f"  pinned / unpinned speed: {best['pinned'] / best['unpinned']:.3f}")

    if args.growth:
        print(f"\ngrowth of a one-ulp difference (pinned vs unpinned, {args.networks} networks, lr 0.1):")
        pinned = child({}, steps=args.growth, **common)["runs"]
        free = child(UNPINNED, steps=args.growth, **common)["runs"]
        print(f"  {'steps':>6} {'max |dW|':>10} {'max |d accuracy|':>17} {'max |d loss|':>13}")
        for p, u in zip(pinned, free):
            d_acc = max(abs(x - y) for x, y in zip(p["accuracy"], u["accuracy"]))
            d_loss = max(abs(x - y) for x, y in zip(p["loss"], u["loss"]))
            print(f"  {p['steps']:>6} {max_difference(p, u):>10.2e} {d_acc:>17.4f} {d_loss:>13.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
