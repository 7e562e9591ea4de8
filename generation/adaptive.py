"""The adaptive run's driver: rounds of jobs planned by generation.boundaries between engine calls.

    python generation/run.py --preset paper --adaptive --out zoo-adaptive --workers 2

Round r: read the networks table of rounds 0..r-1 from their job tables, plan round r (a pure function of that
table), record it in adaptive/round-NNN.json, train its jobs with the run's engine (local workers, Ray, or this
slice's share), then go on until the planner stops. A resumed run replans every round from the same tables, checks
the plan against the recorded one and trains only the jobs not done; the finished command replans, trains nothing
and reassembles the same zoo. Slices (--job-index i --num-jobs n) each train their share of a round, wait for the
others' jobs, and plan the next round alike; slice 0 assembles.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from generation.boundaries import (
    DEFAULT_BUDGET_CORE_HOURS,
    DEFAULT_FAMILIES,
    SECONDS_PER_UNIT,
    AdaptiveConfig,
    make_config,
    plan_round,
    round_jobs,
)
from generation.jobs import job_done, job_paths
from generation.presets import Family, Job, Preset
from rnnzoo.store import write_json_atomic

ROUNDS_DIR = "adaptive"
JOBS_PER_ROUND_CUT = 100  # networks per job at most (a job is one delay of one round: ~10-100 networks)
WAIT_S = 10.0


@dataclasses.dataclass(frozen=True)
class AdaptivePreset(Preset):
    """The jobs an adaptive run planned (every round so far): what assemble() and the engines read."""

    planned: tuple[Job, ...] = ()

    def jobs(self) -> list[Job]:
        return list(self.planned)


def adaptive_families(preset: Preset, names: Sequence[str] = DEFAULT_FAMILIES, tau_ms: float | None = None,
                      n_units: int | None = None) -> list[Family]:
    """The preset's families named (in the preset's order), optionally with another time constant or network size:
    such a family is renamed '<name>-tau<ms>' / '<name>-n<units>' so its networks carry ids of their own (they are
    not the preset's networks), on the same delays, rates and seeds."""
    known = {f.name: f for f in preset.families}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"preset {preset.name!r} has no famil{'y' if len(unknown) == 1 else 'ies'} {unknown}; it "
                         f"has {list(known)}")
    out = []
    for fam in preset.families:
        if fam.name not in names:
            continue
        name, changes = fam.name, {}
        if tau_ms is not None and tau_ms != fam.tau_ms:
            name += f"-tau{tau_ms:g}"
            changes["tau_ms"] = float(tau_ms)
        if n_units is not None and n_units != fam.n_units:
            name += f"-n{n_units}"
            changes["n_units"] = int(n_units)
        out.append(dataclasses.replace(fam, name=name, **changes) if changes else fam)
    return out


def grid_preset(preset: Preset, families: Sequence[Family], jobs: Sequence[Job] = ()) -> AdaptivePreset:
    return AdaptivePreset(f"{preset.name}-adaptive", f"adaptive boundary mapping on the {preset.name} grid: "
                          f"{', '.join(f.name for f in families)}", tuple(families),
                          max_networks_per_job=JOBS_PER_ROUND_CUT, checkpoint_factor=preset.checkpoint_factor,
                          checkpoint_first=preset.checkpoint_first, parquet_checkpoints=preset.parquet_checkpoints,
                          planned=tuple(jobs))


def finished_table(root: Path, jobs: Sequence[Job]) -> pd.DataFrame:
    """The networks table of finished jobs (their job tables concatenated): what the planner reads."""
    if not jobs:
        return pd.DataFrame()
    frames = [pd.read_parquet(root / job_paths(j.index)["table"],
                              columns=["id", "family", "delay_ms", "reaction_ms", "lr", "seed", "mechanism", "steps",
                                       "target_held", "synthetic"]) for j in jobs]
    return pd.concat(frames, ignore_index=True)


def record_round(root: Path, record: dict) -> None:
    """Write adaptive/round-NNN.json, or check it against the one a previous run wrote: the same networks (and
    decision), else stop: the code or the table changed under a resumed run."""
    path = root / ROUNDS_DIR / f"round-{record['round']:03d}.json"
    if path.is_file():
        old = json.loads(path.read_text())
        replaceable = old.get("stop") == "budget spent" and not old.get("networks")  # a larger --budget goes on
        if not replaceable and (old.get("networks") != record["networks"] or old.get("stop") != record["stop"]):
            raise SystemExit(f"{path} records another plan for round {record['round']} than this code makes from "
                             "the same networks (the planner changed?): generate into a new --out folder")
        if old == json.loads(json.dumps(record)):
            return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, record)


def describe_config(config: AdaptiveConfig, families: Sequence[Family]) -> str:
    hours = config.budget_units * SECONDS_PER_UNIT / 3600
    lines = [f"adaptive run over {', '.join(f.name for f in families)}: budget {config.budget_units:,} units "
             f"(steps x trial steps), about {hours:.1f} core-hours here ({hours / 2:.1f} h wall with --workers 2); "
             f"rounds of at most {config.round_units:,} units"]
    lines += [f"  {b.key}: target standard error of the exponent {b.target:g}" for b in config.boundaries]
    return "\n".join(lines)


def run_adaptive(root: Path, args, preset: Preset, families: Sequence[Family], config: AdaptiveConfig,
                 train: Callable[[Sequence[Job], str], list[dict]], slice_: tuple[int, int] | None = None,
                 on_round: Callable[[dict], None] | None = None) -> tuple[AdaptivePreset, dict]:
    """Plan and train rounds until the planner stops; returns the preset of every planned job and the record
    for the manifest ({"config", "rounds", "stop", "units", "networks"}). train(jobs, preset_name) runs jobs with
    the run's engine."""
    done_jobs: list[Job] = []
    rounds = []
    r = 0
    while True:
        table = finished_table(root, done_jobs)
        record = plan_round(table, families, config, r)
        record_round(root, record)
        rounds.append(record)
        if on_round:
            on_round(record)
        if record["stop"]:
            break
        jobs = round_jobs(record, families, len(done_jobs), JOBS_PER_ROUND_CUT)
        mine = jobs if slice_ is None else jobs[slice_[0]::slice_[1]]
        todo = [j for j in mine if not job_done(root, j)]
        name = grid_preset(preset, families).name
        if todo:
            train(todo, name)
        if slice_ is not None:
            while not all(job_done(root, j) for j in jobs):
                time.sleep(WAIT_S)  # the other slices' share of this round
        missing = [j.index for j in jobs if not job_done(root, j)]
        if missing:
            raise RuntimeError(f"round {r}: jobs {missing[:8]} did not finish")
        done_jobs += jobs
        r += 1
    final = rounds[-1]
    summary = {"config": config.to_dict(), "rounds": rounds, "stop": final["stop"],
               "estimates": final.get("estimates", {}), "units": final["units_before"],
               "networks": sum(len(x["networks"]) for x in rounds)}
    return grid_preset(preset, families, done_jobs), summary


def stop_text(summary: dict) -> str:
    """What the run reached, per boundary, for the terminal."""
    lines = [f"adaptive run: {len(summary['rounds']) - 1} rounds, {summary['networks']:,} networks, "
             f"{summary['units']:,} units (about {summary['units'] * SECONDS_PER_UNIT / 3600:.2f} core-hours); "
             f"stopped: {summary['stop']}"]
    for key, e in summary["estimates"].items():
        exponent = "n/a" if e["exponent"] is None else f"{e['exponent']:.2f}"
        err = e["stderr"] if isinstance(e["stderr"], str) or e["stderr"] is None else f"{e['stderr']:.3f}"
        lines.append(f"  {key}: exponent {exponent} +- {err} (target {e['target']:g}: "
                     f"{'reached' if e['reached'] else 'not reached'})")
    return "\n".join(lines)


__all__ = ["AdaptivePreset", "adaptive_families", "run_adaptive", "make_config", "DEFAULT_BUDGET_CORE_HOURS"]
