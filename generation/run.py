"""Regenerate a zoo: preset -> jobs -> train and label -> shards -> networks table and manifest.

    python generation/run.py --preset tiny --out zoo-tiny
    python generation/run.py --preset paper --out zoo-paper --dry-run
    python generation/run.py --preset paper --adaptive --out zoo-adaptive --workers 2   # map the boundaries

Finished jobs (their record present, checksums matching) are skipped, so rerunning the same command resumes an
interrupted run. --job-index i --num-jobs n runs one slice of the jobs (Slurm arrays or any other scheduler);
the run that finds every job done writes the networks table and the manifest. --adaptive trains, instead of the
whole grid, rounds of its networks chosen where each phase boundary is least certain (generation/boundaries.py,
generation/adaptive.py), until each boundary's exponent reaches its target precision or the budget is spent.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

if __package__ in (None, ""):  # `python generation/run.py` from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generation.numerics import numerics_config, pin_cpu_numerics

# Before torch starts: the same bits on every x86-64 CPU with AVX2 (generation/numerics.py). Where torch came first
# (run.main called from a program that imported it), every job refuses to train unpinned instead.
pin_cpu_numerics(strict=False)

import torch  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from generation.assemble import assemble  # noqa: E402
from generation.engines import EngineError, job_network_steps, resolve_device, run_local, run_ray
from generation.jobs import job_done  # noqa: E402
from generation.presets import PRESETS, Preset, get_preset  # noqa: E402
from generation.train import flops_per_network_step, train_population  # noqa: E402
from rnnzoo.folder import FolderInUse, FolderLock, LinkOutOfFolder  # noqa: E402
from rnnzoo.leftovers import remove_debris  # noqa: E402
from rnnzoo.store import RUN_LOG, append_run_log  # noqa: E402

GENERATION_FILE = "generation.json"


def checkpoint_schedule(preset: Preset, checkpoint_factor: int | None = None) -> tuple[int | None, int]:
    """(factor, first step) of the checkpoints a run keeps: the preset's, or doubling-style from step 1 at the
    factor given by --checkpoints (0: none)."""
    if checkpoint_factor is None:
        return preset.checkpoint_factor, preset.checkpoint_first
    return (checkpoint_factor or None), 1


def claim_folder(root: Path, preset: Preset, max_steps: int | None, checkpoint_factor: int | None = None,
                 extra: dict | None = None) -> dict:
    """Record which preset this folder holds, or refuse a folder that holds another zoo (nothing is overwritten).
    extra: more settings the folder is claimed with (an adaptive run's boundaries, targets and budget)."""
    factor, first = checkpoint_schedule(preset, checkpoint_factor)
    generation = json.loads(json.dumps({"preset": preset.config(), "max_steps": max_steps,
                                        "checkpoint_factor": factor,
                                        **({} if first == 1 else {"checkpoint_first": first}),
                                        "numerics": numerics_config(), **(extra or {})}))  # as stored (lists)
    path = root / GENERATION_FILE
    if path.is_file():
        try:
            existing = json.loads(path.read_bytes().decode("utf-8"))
            if not isinstance(existing, dict):
                raise ValueError(f"a JSON {type(existing).__name__}, not an object")
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise SystemExit(f"{path} is damaged ({exc}), so the settings this folder was generated with are "
                             f"unknown and nothing in it can be resumed safely: restore the file, or delete {root} "
                             "and generate again") from None
        if existing != generation:
            name = existing.get("preset", {}).get("name", "?")
            raise SystemExit(
                f"{root} already holds a zoo of preset {name!r} (max_steps={existing.get('max_steps')}); "
                f"use another --out folder for preset {preset.name!r}, or rerun with the same settings to resume"
            )
        return generation
    if root.exists() and any(p for p in root.iterdir() if not p.name.startswith(".")):
        raise SystemExit(f"{root} exists and is not an rnnzoo generation folder; choose an empty or new --out folder")
    root.mkdir(parents=True, exist_ok=True)
    from rnnzoo.store import write_json_atomic

    write_json_atomic(path, generation)
    return generation


def measured_flops(device: torch.device, n_networks: int = 8, steps: int = 3, repeats: int = 5) -> float:
    """FLOP per second the trainer reaches on a small batch: on a CPU per second of one core's CPU time (one
    thread, the process's CPU clock, best of `repeats`), which other work on the machine barely moves, unlike the
    wall clock; on a GPU per second of wall time."""
    from rnnzoo.task import Task

    task = Task(delay_ms=40)
    on_cpu = device.type == "cpu"
    threads = 1 if on_cpu else None
    clock = time.process_time if on_cpu else time.perf_counter
    train_population([0], [0.1], [1], task, 0.5, device=device, threads=threads)  # warm-up
    best = math.inf
    for _ in range(repeats):
        started = clock()
        train_population(list(range(n_networks)), [0.1] * n_networks, [steps] * n_networks, task, 0.5, device=device,
                         threads=threads)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, clock() - started)
    return flops_per_network_step(task) * n_networks * steps / max(best, 1e-9)


def gpu_line() -> str:
    """What the dry run says about a GPU when it measured the CPU."""
    if torch.cuda.is_available():
        return (f"a GPU is present ({torch.cuda.get_device_name(0)}): `--device cuda --dry-run` measures it, and "
                "`--device auto` (the default) trains on it")
    return "no GPU seen here (torch.cuda.is_available() is False): the times below are the CPU's"


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def checkpoint_bytes(jobs, factor: int | None, max_steps: int | None = None, first: int = 1) -> int:
    """Bytes of the checkpoint shards a run keeps at this schedule (float32 weights, 0 without checkpoints)."""
    from generation.train import checkpoint_steps

    if not factor:
        return 0
    return sum(len(checkpoint_steps(n.steps if max_steps is None else min(n.steps, max_steps), factor, first))
               * parameter_bytes(job) for job in jobs for n in job.networks)


def parameter_bytes(job) -> int:
    """Bytes of one network's float32 weights in this job."""
    from rnnzoo.dynamics import Weights

    return Weights.n_bytes(job.family.n_units)


def describe(preset: Preset, jobs, max_steps: int | None = None, flops_per_s: float | None = None,
             checkpoint_factor: int | None = None) -> str:
    """Networks, jobs, network-steps, training FLOPs, checkpoint and Parquet-view storage and (given the measured
    FLOP/s) the projected training time."""
    steps = sum(job_network_steps(j, max_steps) for j in jobs)
    flops = sum(job_network_steps(j, max_steps) * flops_per_network_step(j.task, j.family.n_units) for j in jobs)
    text = (f"preset {preset.name}: {preset.description}\n"
            f"  {sum(len(j.networks) for j in jobs):,} networks in {len(jobs):,} jobs, {steps:,} network-steps, "
            f"{flops:.3g} training FLOPs")
    if flops_per_s:
        text += f", about {duration(flops / flops_per_s)} of training at {flops_per_s / 1e9:.1f} GFLOP/s"
    factor, first = checkpoint_schedule(preset, checkpoint_factor)
    text += "\n  " + checkpoint_text(jobs, factor, max_steps, first)
    text += "\n  " + storage_text(preset, jobs, factor, max_steps, first)
    return text


def checkpoint_text(jobs, factor: int | None, max_steps: int | None, first: int = 1) -> str:
    """The dry run's line on checkpoints: what this run keeps, and what doubling would cost."""
    doubling = checkpoint_bytes(jobs, 2, max_steps)
    if factor:
        start = "" if first == 1 else f" from step {first}"
        return (f"checkpoints every {factor}x steps{start}: {checkpoint_bytes(jobs, factor, max_steps, first) / 1e6:,.1f}"
                f" MB (doubling, --checkpoints 2: {doubling / 1e6:,.1f} MB)")
    return f"no checkpoints (--checkpoints 2 keeps doubling steps: {doubling / 1e6:,.1f} MB; 8: " \
           f"{checkpoint_bytes(jobs, 8, max_steps) / 1e6:,.1f} MB)"


def storage_estimate(preset: Preset, jobs, factor: int | None, max_steps: int | None = None,
                     first: int = 1) -> dict[str, float]:
    """Bytes a run stores as weights: the safetensors shards (exact, float32) and their Parquet views (estimated
    from the views' measured bytes per shard byte, rnnzoo.views.VIEW_BYTES_PER_SHARD_BYTE)."""
    from rnnzoo.views import VIEW_BYTES_PER_SHARD_BYTE

    weights = float(sum(parameter_bytes(job) * len(job.networks) for job in jobs))
    checkpoints = float(checkpoint_bytes(jobs, factor, max_steps, first))
    return {"weights": weights, "checkpoints": checkpoints,
            "weights_view": weights * VIEW_BYTES_PER_SHARD_BYTE["weights"],
            "checkpoints_view": checkpoints * VIEW_BYTES_PER_SHARD_BYTE["checkpoints"] if preset.parquet_checkpoints
            else 0.0}


def storage_text(preset: Preset, jobs, factor: int | None, max_steps: int | None, first: int = 1) -> str:
    """The dry run's line on stored weights: the safetensors shards and their Parquet views."""
    size = {k: v / 1e6 for k, v in storage_estimate(preset, jobs, factor, max_steps, first).items()}
    text = (f"weights: {size['weights']:,.1f} MB of safetensors shards; Parquet views about "
            f"{size['weights_view'] + size['checkpoints_view']:,.1f} MB (weights {size['weights_view']:,.1f} MB")
    if size["checkpoints"]:
        text += (f", checkpoints {size['checkpoints_view']:,.1f} MB" if preset.parquet_checkpoints
                 else ", checkpoints not written as Parquet")
    text += f"); all weights together about {sum(size.values()):,.1f} MB"
    other = other_bytes(jobs, max_steps)
    return text + (f"\n  curves about {other['curves'] / 1e6:,.1f} MB, trajectories about "
                   f"{other['trajectories'] / 1e6:,.1f} MB; every file together about "
                   f"{(sum(size.values()) * 1e6 + sum(other.values())) / 1e6:,.1f} MB")


# Bytes measured on the embedded sample: curves 17.5 per network-step (six float32 curves, zstd: 1,313,154 bytes for
# 74,836 steps); trajectories 0.90 of their raw float32 bytes (1,825,227 of 2,026,944).
CURVE_BYTES_PER_STEP = 17.5
TRAJECTORY_BYTES_PER_RAW_BYTE = 0.90


def other_bytes(jobs, max_steps: int | None = None) -> dict[str, float]:
    """Bytes of the curves and stored trajectories a run writes (estimated from the sample's measured ratios)."""
    curves = sum(job_network_steps(j, max_steps) for j in jobs) * CURVE_BYTES_PER_STEP
    raw = sum(len(j.networks) * 2 * j.task.n_steps * (j.family.n_units + 2) * 4 for j in jobs)
    return {"curves": float(curves), "trajectories": raw * TRAJECTORY_BYTES_PER_RAW_BYTE}


def summary_table(summaries: list[dict]) -> str:
    """One line per job: what ran, how fast, and its memory."""
    lines = [f"{'job':>5} {'family':>8} {'delay':>5} {'nets':>5} {'net-steps':>10} {'seconds':>8} {'net-steps/s':>11} "
             f"{'batch':>5} {'peak MiB':>9} {'rss MiB':>8}  status"]
    for s in summaries:
        rate = s["network_steps"] / s["seconds"] if s["seconds"] else 0.0
        lines.append(f"{s['job']:>5} {s['family']:>8} {s['delay_ms']:>5} {s['networks']:>5} {s['network_steps']:>10,} "
                     f"{s['seconds']:>8.1f} {rate:>11.1f} {s['batch_size']:>5} {s['peak_bytes'] / 2**20:>9.1f} "
                     f"{s['max_rss_bytes'] / 2**20:>8.0f}  {'skipped (done)' if s['skipped'] else 'trained'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", required=True, help=f"grid to generate: {', '.join(PRESETS)} (or 'all' with "
                        "--dry-run)")
    parser.add_argument("--out", type=Path, help="zoo folder to write (resumes if it holds the same preset)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when visible), cpu, cuda, cuda:1, ...")
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: this machine (see --workers); ray: Ray tasks (see --address)")
    parser.add_argument("--workers", type=int, default=1, help="local engine: worker processes, one job each")
    parser.add_argument("--address", default=None,
                        help="ray engine: head node host:port, 'auto' (this machine's cluster) or 'local'")
    parser.add_argument("--retries", type=int, default=3, help="ray engine: retries of a failed job")
    parser.add_argument("--gpus-per-job", type=float, default=0.25, help="ray engine: GPU fraction of a job on CUDA")
    parser.add_argument("--job-index", type=int, default=None, help="run only slice i of --num-jobs slices")
    parser.add_argument("--num-jobs", type=int, default=None, help="number of slices the jobs are cut into")
    parser.add_argument("--max-steps", type=int, default=None, help="cap SGD steps per network (tests only)")
    parser.add_argument("--checkpoints", type=int, default=None, metavar="FACTOR",
                        help="keep each network's weights at steps 0, 1, FACTOR, FACTOR^2, ... and the final one "
                             "(2 = doubling; 0 = none; default: the preset's, 8 for tiny and sample, none otherwise)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars (they are off already when stderr is not a terminal, e.g. in a log)")
    parser.add_argument("--relabel", action="store_true",
                        help="recompute the labels and diagnostics of every finished job from its stored weights and "
                             "curves (no training), then rewrite the networks table, manifest and card")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the preset's size, FLOPs and projected time on this device, and exit")
    adaptive = parser.add_argument_group("adaptive boundary mapping (generation/boundaries.py)")
    adaptive.add_argument("--adaptive", action="store_true",
                          help="train rounds of the preset's networks chosen where each phase boundary is least "
                               "certain, until every exponent reaches its target or the budget is spent")
    adaptive.add_argument("--families", default="nopost,control",
                          help="families whose boundaries to map (default nopost,control; the paper preset also "
                               "has post and longtau)")
    adaptive.add_argument("--budget", type=float, default=None, metavar="CORE_HOURS",
                          help="training budget in core-hours of this project's 2-core CPU (a fixed number of "
                               "SGD-step x trial-step units; default 4.4: about 2.2 h wall with --workers 2)")
    adaptive.add_argument("--target", action="append", default=[], metavar="BOUNDARY=SE",
                          help="target standard error of an exponent, e.g. nopost/slow_point=0.3 or "
                               "no_learning=0.15 (repeatable; defaults: no_learning 0.15, slow_point 0.3, "
                               "control 0.05, post 0.25)")
    adaptive.add_argument("--tau-ms", type=float, default=None,
                          help="map the boundaries at another time constant (families renamed <name>-tau<ms>)")
    adaptive.add_argument("--n-units", type=int, default=None,
                          help="map the boundaries at another network size (families renamed <name>-n<N>)")
    args = parser.parse_args(argv)

    if args.preset == "all" and args.dry_run:
        presets = list(PRESETS.values())
    else:
        try:
            presets = [get_preset(args.preset)]
        except ValueError as exc:
            parser.error(str(exc))
    preset = presets[0]
    jobs = preset.jobs()
    if (args.job_index is None) != (args.num_jobs is None):
        parser.error("give --job-index and --num-jobs together")
    if args.num_jobs is not None:
        if not 0 <= args.job_index < args.num_jobs:
            parser.error(f"--job-index must lie in [0, {args.num_jobs}), got {args.job_index}")
        jobs = jobs[args.job_index :: args.num_jobs]
    if args.engine == "ray" and args.address is None:
        parser.error("--engine ray needs --address (head node host:port, 'auto', or 'local')")
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    for flag, value, low in (("--max-steps", args.max_steps, 1), ("--retries", args.retries, 0),
                             ("--num-jobs", args.num_jobs, 1), ("--n-units", args.n_units, 1)):
        if value is not None and value < low:  # checked before anything is written: never recorded in a folder
            parser.error(f"{flag} must be at least {low}, got {value}")
    for flag, value in (("--gpus-per-job", args.gpus_per_job), ("--tau-ms", args.tau_ms), ("--budget", args.budget)):
        if value is not None and not (math.isfinite(value) and value > 0):
            parser.error(f"{flag} must be a positive number, got {value}")
    try:
        device = resolve_device(args.device)
    except EngineError as exc:
        parser.error(str(exc))
    if args.adaptive:
        if args.relabel:
            parser.error("--relabel is not offered with --adaptive")
        try:
            families, config = adaptive_setup(preset, args)
        except ValueError as exc:
            parser.error(str(exc))
        from generation.adaptive import describe_config

        print(describe_config(config, families))
        if args.dry_run:
            from generation.boundaries import plan_round

            coarse = plan_round(None, families, config, 0)
            print(f"  round 0 (coarse pass): {len(coarse['networks']):,} networks, {coarse['units']:,} units")
            return 0
    elif args.dry_run:
        speed = measured_flops(device)
        if device.type == "cpu":
            print(f"device cpu: the trainer runs at {speed / 1e9:.1f} GFLOP per CPU-second on one core (measured just "
                  f"now on this process's CPU clock, which load barely moves); times below are one core's CPU time of "
                  f"training: divide by --workers for the wall time of an otherwise idle machine")
            print(gpu_line())
        else:
            print(f"device {device} ({torch.cuda.get_device_name(device)}): the trainer runs at {speed / 1e9:.1f} "
                  "GFLOP/s here (wall clock, measured just now); times below are training only, one process")
        for p in presets:
            print(describe(p, jobs if len(presets) == 1 else p.jobs(), args.max_steps, speed, args.checkpoints))
        return 0
    if not args.adaptive:
        print(describe(preset, jobs, args.max_steps))
    if args.out is None:
        parser.error("--out is required unless --dry-run")
    root = args.out
    if args.checkpoints is not None and args.checkpoints not in (0,) and args.checkpoints < 2:
        parser.error(f"--checkpoints takes a factor of at least 2 (or 0 for none), got {args.checkpoints}")
    try:
        lock = FolderLock(root, shared=args.num_jobs is not None, slice_name=None if args.num_jobs is None
                          else f"{args.job_index:04d}-of-{args.num_jobs:04d}").__enter__()
    except (FolderInUse, LinkOutOfFolder, NotADirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.adaptive:
            return generate_adaptive(root, args, preset, families, config, lock)
        return generate_into(root, args, preset, jobs, lock)
    finally:
        lock.__exit__()


def adaptive_setup(preset: Preset, args: argparse.Namespace):
    """The families and AdaptiveConfig of --adaptive from the command line (ValueError on bad input)."""
    from generation.adaptive import adaptive_families
    from generation.boundaries import DEFAULT_BUDGET_CORE_HOURS, make_config

    families = adaptive_families(preset, [n.strip() for n in args.families.split(",") if n.strip()],
                                 args.tau_ms, args.n_units)
    targets = {}
    for text in args.target:
        key, sep, value = text.partition("=")
        try:
            targets[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ValueError(f"--target takes BOUNDARY=SE (e.g. nopost/slow_point=0.3), got {text!r}")
    budget = DEFAULT_BUDGET_CORE_HOURS if args.budget is None else args.budget
    if budget <= 0:
        raise ValueError(f"--budget must be positive, got {budget}")
    return families, make_config(families, targets, budget, args.max_steps)


def generate_adaptive(root: Path, args: argparse.Namespace, preset: Preset, families, config, lock) -> int:
    """An adaptive run into root (generation/adaptive.py): rounds planned from the finished networks, trained by
    the run's engine, then the zoo assembled with the rounds in its manifest."""
    from generation.adaptive import grid_preset, run_adaptive, stop_text

    claim = claim_folder(root, grid_preset(preset, families), args.max_steps, args.checkpoints,
                         extra={"adaptive": config.plan_settings()})
    log = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "out": str(root.resolve()),
           "argv": sys.argv, "host": platform.node(), "slice": [args.job_index, args.num_jobs], "jobs": []}
    if not lock.shared and (removed := remove_debris(root)):
        print(f"  removed {len(removed)} leftover(s) of an interrupted run")
    started = time.time()

    def train(todo, preset_name):
        summaries = train_jobs(root, args, preset_name, todo)
        log["jobs"] += summaries
        return summaries

    def on_round(record):
        est = "; ".join(f"{k} {'n/a' if e['exponent'] is None else format(e['exponent'], '.2f')} +- "
                        f"{e['stderr'] if not isinstance(e['stderr'], float) else format(e['stderr'], '.3f')}"
                        for k, e in record.get("estimates", {}).items())
        print(f"round {record['round']}: {len(record['networks'])} networks, {record['units']:,} units"
              + (f"; {est}" if est else "") + (f"; stop: {record['stop']}" if record["stop"] else ""), flush=True)

    try:
        slice_ = None if args.num_jobs is None else (args.job_index, args.num_jobs)
        run_preset, summary = run_adaptive(root, args, preset, families, config, train, slice_, on_round)
        print(stop_text(summary))
        if slice_ is not None and slice_[0] != 0:
            print(f"slice done in {time.time() - started:.1f} s; slice 0 assembles the zoo")
            log["outcome"] = "done"
            return 0
        lock.exclusive()
        try:
            manifest = assemble(root, run_preset, {**claim, "adaptive_run": summary})
        except OSError as exc:
            print(f"error: writing the zoo in {root} failed ({exc}); rerun the same command: it resumes",
                  file=sys.stderr)
            log["outcome"] = "exit 3"
            return 3
        print(f"\n{manifest['n_networks']} networks in {root} ({time.time() - started:.1f} s this run)")
        log["outcome"] = "done"
        return 0
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        log["outcome"] = "exit 2"
        return 2
    except BaseException as exc:
        log["outcome"] = f"failed: {type(exc).__name__}: {exc}"
        raise
    finally:
        log["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        try:
            append_run_log(root, log)
        except OSError as exc:
            print(f"warning: could not append to the run log {root / RUN_LOG}: {exc}", file=sys.stderr)


def train_jobs(root: Path, args: argparse.Namespace, preset_name: str, todo: list) -> list[dict]:
    """Train jobs with the run's engine (--engine, --workers, --device), with progress bars on a terminal;
    returns their summaries. EngineError when the engine cannot start."""
    total = sum(len(j.networks) for j in todo)
    bars_off = True if args.quiet else None  # None: tqdm shows bars on a terminal only, never in a log file
    with tqdm(total=total, desc="networks", unit="net", position=0, dynamic_ncols=True, disable=bars_off) as overall:
        def done(summary: dict) -> None:
            overall.update(summary["networks"])
            overall.set_postfix(job=summary["job"], job_s=summary["seconds"])

        def job_bar(job):
            bar = tqdm(total=job_network_steps(job, args.max_steps), unit="net-step", leave=False, position=1,
                       desc=f"job {job.index} ({job.family.name}, {job.delay_ms} ms)", dynamic_ncols=True,
                       disable=bars_off)

            def step(k: int, n_active: int) -> None:
                bar.update(n_active)
                if bar.n >= bar.total:
                    bar.close()
            return step

        if args.engine == "ray":
            return run_ray(root, preset_name, todo, args.device, args.max_steps, args.address,
                           retries=args.retries, gpus_per_job=args.gpus_per_job,
                           cpus=args.workers if args.workers > 1 else None, on_done=done)
        return run_local(root, preset_name, todo, args.device, args.max_steps, workers=args.workers,
                         on_done=done, on_step=job_bar)


def generate_into(root: Path, args: argparse.Namespace, preset: Preset, jobs: list, lock: "FolderLock") -> int:
    """Train the jobs not yet done into root, then assemble the zoo if every job is done; returns the exit code.
    What differs from run to run (times, paths, hosts) goes to the run log, not to any recorded file."""
    generation = claim_folder(root, preset, args.max_steps, args.checkpoints)  # refuses another zoo's folder, writing nothing
    log = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "out": str(root.resolve()),
           "argv": sys.argv, "host": platform.node(), "slice": [args.job_index, args.num_jobs]}
    try:
        code = _generate_into(root, args, preset, jobs, lock, generation, log)
    except BaseException as exc:
        log["outcome"] = f"failed: {type(exc).__name__}: {exc}"
        raise
    else:
        log["outcome"] = {0: "done"}.get(code, f"exit {code}")
        return code
    finally:
        log["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        try:
            append_run_log(root, log)
        except OSError as exc:  # a full disk must not hide the run's own outcome
            print(f"warning: could not append to the run log {root / RUN_LOG}: {exc}", file=sys.stderr)


def _generate_into(root: Path, args: argparse.Namespace, preset: Preset, jobs: list, lock: "FolderLock",
                   generation: dict, log: dict) -> int:
    if not lock.shared:  # no other writer: what killed runs left behind goes now
        if removed := remove_debris(root):
            print(f"  removed {len(removed)} leftover(s) of an interrupted run: {', '.join(removed[:5])}"
                  + (" ..." if len(removed) > 5 else ""))

    if args.relabel:
        from generation.jobs import relabel_job

        unfinished = [j.index for j in jobs if not job_done(root, j)]
        if unfinished:
            print(f"error: --relabel needs finished jobs; jobs {unfinished[:8]} of {root} are not done: run the same "
                  "command without --relabel first", file=sys.stderr)
            return 2
        for job in tqdm(jobs, desc="relabel", unit="job", disable=True if args.quiet else None):
            relabel_job(root, job, resolve_device(args.device))
    todo = [j for j in jobs if not job_done(root, j)]
    if len(todo) < len(jobs):
        print(f"  resuming: {len(jobs) - len(todo)} of {len(jobs)} jobs already done")
    started = time.time()
    try:
        summaries = train_jobs(root, args, preset.name, todo)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.time() - started
    log["jobs"] = summaries
    if summaries:
        print(summary_table(summaries))
        trained = [s for s in summaries if not s["skipped"]]
        if trained:
            steps = sum(s["network_steps"] for s in trained)
            print(f"{len(trained)} jobs, {sum(s['networks'] for s in trained)} networks, {steps:,} network-steps in "
                  f"{elapsed:.1f} s ({steps / elapsed:.1f} network-steps/s, labels and writes included); peak "
                  f"trainer memory {max(s['peak_bytes'] for s in trained) / 2**20:.1f} MiB per job")

    if all(job_done(root, j) for j in preset.jobs()):
        lock.exclusive()  # a slice assembles alone, once the other slices are finished with the folder
        try:
            manifest = assemble(root, preset, generation)
        except OSError as exc:
            print(f"error: writing the zoo in {root} failed ({exc}); nothing was recorded as finished. Free space "
                  "or fix the cause, then rerun the same command: it resumes", file=sys.stderr)
            return 3
        import pandas as pd

        table = pd.read_parquet(root / "networks.parquet")
        print(f"\n{manifest['n_networks']} networks in {root} ({elapsed:.1f} s this run)")
        print(pd.crosstab(table["delay_ms"], table["mechanism"]).to_string())
    else:
        print(f"\nslice done in {elapsed:.1f} s; the networks table is written when every job is done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
