"""Regenerate a zoo: preset -> jobs -> train and label -> shards -> networks table and manifest.

    python generation/run.py --preset tiny --out zoo-tiny
    python generation/run.py --preset paper --out zoo-paper --dry-run

Finished jobs (their record present, checksums matching) are skipped, so rerunning the same command resumes an
interrupted run. --job-index i --num-jobs n runs one slice of the jobs (Slurm arrays or any other scheduler);
the run that finds every job done writes the networks table and the manifest.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python generation/run.py` from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
from tqdm.auto import tqdm

from generation.assemble import assemble
from generation.jobs import job_done, run_job
from generation.presets import PRESETS, Preset, get_preset

GENERATION_FILE = "generation.json"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: no CUDA device is visible here; use --device cpu or auto")
    return torch.device(name)


def claim_folder(root: Path, preset: Preset, max_steps: int | None) -> dict:
    """Record which preset this folder holds, or refuse a folder that holds another zoo (nothing is overwritten)."""
    generation = {"preset": preset.config(), "max_steps": max_steps}
    path = root / GENERATION_FILE
    if path.is_file():
        existing = json.loads(path.read_text())
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


def describe(preset: Preset, jobs) -> str:
    steps = sum(j.network_steps for j in jobs)
    return (f"preset {preset.name}: {preset.description}\n"
            f"  {sum(len(j.networks) for j in jobs):,} networks in {len(jobs):,} jobs, {steps:,} network-steps")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", required=True, help=f"grid to generate: {', '.join(PRESETS)}")
    parser.add_argument("--out", type=Path, help="zoo folder to write (resumes if it holds the same preset)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when visible), cpu, cuda, cuda:1, ...")
    parser.add_argument("--job-index", type=int, default=None, help="run only slice i of --num-jobs slices")
    parser.add_argument("--num-jobs", type=int, default=None, help="number of slices the jobs are cut into")
    parser.add_argument("--max-steps", type=int, default=None, help="cap SGD steps per network (tests only)")
    parser.add_argument("--dry-run", action="store_true", help="print the preset's size and exit")
    args = parser.parse_args(argv)

    try:
        preset = get_preset(args.preset)
    except ValueError as exc:
        parser.error(str(exc))
    jobs = preset.jobs()
    if (args.job_index is None) != (args.num_jobs is None):
        parser.error("give --job-index and --num-jobs together")
    if args.num_jobs is not None:
        if not 0 <= args.job_index < args.num_jobs:
            parser.error(f"--job-index must lie in [0, {args.num_jobs}), got {args.job_index}")
        jobs = jobs[args.job_index :: args.num_jobs]
    print(describe(preset, jobs))
    if args.dry_run:
        return 0
    if args.out is None:
        parser.error("--out is required unless --dry-run")
    root = args.out
    generation = claim_folder(root, preset, args.max_steps)
    device = resolve_device(args.device)

    todo = [j for j in jobs if not job_done(root, j)]
    if len(todo) < len(jobs):
        print(f"  resuming: {len(jobs) - len(todo)} of {len(jobs)} jobs already done")
    started = time.time()
    total = sum(len(j.networks) for j in todo)
    with tqdm(total=total, desc="networks", unit="net", position=0) as overall:
        for job in todo:
            n_steps = max(n.steps for n in job.networks) if args.max_steps is None else args.max_steps
            with tqdm(total=n_steps, desc=f"job {job.index} ({job.family.name}, {job.delay_ms} ms)",
                      unit="step", leave=False, position=1) as bar:
                record = run_job(root, job, device, on_step=lambda k, n: bar.update(1), max_steps=args.max_steps)
            overall.update(len(job.networks))
            overall.set_postfix(last_job_s=record["seconds"])
    elapsed = time.time() - started

    if all(job_done(root, j) for j in preset.jobs()):
        manifest = assemble(root, preset, generation)
        import pandas as pd

        table = pd.read_parquet(root / "networks.parquet")
        print(f"\n{manifest['n_networks']} networks in {root} ({elapsed:.1f} s this run)")
        print(pd.crosstab(table["delay_ms"], table["mechanism"]).to_string())
    else:
        print(f"\nslice done in {elapsed:.1f} s; the networks table is written when every job is done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
