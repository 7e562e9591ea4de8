"""Run one job: train its networks in one batch, evaluate and label them, write its shard and records.

A job is done when jobs/job-NNNNN.json exists and the files it lists match their checksums; it is written last,
so an interrupted job is simply redone.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from generation.presets import Job
from generation.train import train_population
from rnnzoo import __version__
from rnnzoo.analysis.classify import diagnose
from rnnzoo.labels import LABEL_VALUES, control_outcome, paper_window, training_outcome
from rnnzoo.dynamics import Weights
from rnnzoo.simulation import run_task
from rnnzoo.splits import splits_of
from rnnzoo.store import (
    CHECKPOINTS_DIR,
    CURVES_DIR,
    DIAGNOSTIC_COLUMNS,
    LABEL_COLUMNS,
    JOBS_DIR,
    WEIGHTS_DIR,
    ChecksumError,
    ZooFormatError,
    check_relpath,
    curves_table,
    networks_table,
    read_shard,
    verify_file,
    write_json_atomic,
    write_shard,
    write_table,
)


LABEL_CHUNK = 256  # networks evaluated and labelled together


def job_paths(job_index: int) -> dict[str, str]:
    """Where a job's files go; "curves" is the one curve file of zoos written before curves were split by seed
    (curve_path gives today's, one per split)."""
    stem = f"{job_index:05d}"
    return {
        "shard": f"{WEIGHTS_DIR}/shard-{stem}.safetensors",
        "curves": f"{CURVES_DIR}/shard-{stem}.parquet",
        "table": f"{JOBS_DIR}/job-{stem}.parquet",
        "record": f"{JOBS_DIR}/job-{stem}.json",
        "checkpoints": f"{CHECKPOINTS_DIR}/shard-{stem}.safetensors",
    }


def curve_path(job_index: int, split: str) -> str:
    """The job's curve file for one split: curves are split by seed like the weights' Parquet views, so that the
    card's `curves` config has the zoo's train / validation / test splits without a second copy of the curves."""
    return f"{CURVES_DIR}/{split}-{job_index:05d}.parquet"


def curve_paths(job: Job) -> list[str]:
    """Each of the job's networks' curve file, in the job's order."""
    return [curve_path(job.index, split) for split in splits_of([n.seed for n in job.networks])]


def write_curves(root: Path, job: Job, curves: dict[str, list[np.ndarray]]) -> dict[str, str]:
    """Write the job's curves, one file per split its seeds fall in; returns {path: sha256}."""
    ids, paths = [n.id for n in job.networks], curve_paths(job)
    files = {}
    for rel in sorted(set(paths)):
        keep = [k for k, p in enumerate(paths) if p == rel]
        files[rel] = write_table(root / rel, curves_table([ids[k] for k in keep],
                                                          {name: [c[k] for k in keep] for name, c in curves.items()}))
    return files


def job_done(root: Path, job: Job) -> bool:
    """True when the job's record exists, names the same networks and every file it lists matches its sha256."""
    record_path = root / job_paths(job.index)["record"]
    if not record_path.is_file():
        return False
    try:
        record = json.loads(record_path.read_text())
        if record.get("ids") != [n.id for n in job.networks]:
            return False
        for rel, sha in record["files"].items():
            verify_file(root / check_relpath(rel, record_path), sha)
    except (ZooFormatError, ChecksumError, json.JSONDecodeError, KeyError, AttributeError, TypeError):
        return False
    return True


def run_job(root: Path, job: Job, device: str | torch.device = "cpu",
            on_step: Callable[[int, int], None] | None = None, max_steps: int | None = None,
            checkpoint_factor: int | None = None, checkpoint_first: int = 1) -> dict:
    """Train, evaluate, label and write one job; returns its record. checkpoint_factor: also keep each network's
    weights at generation.train.checkpoint_steps(steps, factor, first), in their own shard (None: no checkpoints)."""
    started = time.time()
    specs = job.networks
    seeds = [n.seed for n in specs]
    lrs = [n.lr for n in specs]
    steps = [n.steps if max_steps is None else min(n.steps, max_steps) for n in specs]
    task, fam = job.task, job.family
    result = train_population(seeds, lrs, steps, task, fam.alpha, n_units=fam.n_units, device=device, on_step=on_step,
                              scored_window=paper_window(task, fam.paper_delay_grid_ms),
                              checkpoint_factor=checkpoint_factor, stop_loss=fam.stop_loss,
                              checkpoint_first=checkpoint_first)
    paths = job_paths(job.index)
    ids = [n.id for n in specs]
    files = {paths["shard"]: write_shard(root / paths["shard"], result.weights, ids,
                                         {"job": job.index, "family": fam.name, "delay_ms": job.delay_ms})}
    files.update(write_curves(root, job, result.curves))
    M = len(specs)
    checkpoint_columns = {}
    if result.checkpoints is not None:
        steps_of = [c[0] for c in result.checkpoints]
        first = np.concatenate([[0], np.cumsum([len(st) for st in steps_of])[:-1]]).astype(int).tolist()
        schedule = {"checkpoint_factor": checkpoint_factor} | ({} if checkpoint_first == 1 else
                                                               {"checkpoint_first": checkpoint_first})
        files[paths["checkpoints"]] = write_shard(
            root / paths["checkpoints"], Weights.cat([c[1] for c in result.checkpoints]),
            [f"{i}@{step}" for i, st in zip(ids, steps_of) for step in st],
            {"job": job.index, "family": fam.name, "delay_ms": job.delay_ms} | schedule)
        checkpoint_columns = {"checkpoint_steps": steps_of, "checkpoint_shard": [paths["checkpoints"]] * M,
                              "checkpoint_row": first}
    rows = label_rows(job, result.weights, result.curves, device)
    rows.update(checkpoint_columns)
    files[paths["table"]] = write_table(root / paths["table"], networks_table(rows))
    # Only what the job's data depend on: its wall-clock time goes to the run log (the engines time each job), so
    # a job redone after a kill writes the same record, byte for byte.
    record = {"job": job.index, "ids": ids, "files": files, "network_steps": int(sum(steps)), "device": str(device),
              "rnnzoo_version": __version__, "torch_version": torch.__version__}
    write_json_atomic(root / paths["record"], record)
    return {**record, "seconds": round(time.time() - started, 3)}


NULL_UNLESS_LEARNED = ("mechanism_share", "dynamics_agrees")


def label_rows(job: Job, weights: Weights, curves: dict[str, list[np.ndarray]],
               device: str | torch.device = "cpu") -> dict[str, list]:
    """The job's networks-table rows from its trained weights and training curves: the paper's outcome and label,
    the exact-window outcome, the PSD test's modal label, the canonical evaluation and the dynamics diagnostics.
    Needs no training, so a zoo's labels can be recomputed from its shards (`relabel_job`)."""
    if job.task.target_held:
        return control_rows(job, weights, curves, device)
    # The paper's outcome from its own curves (shifted window, 4 decimals); the exact-window outcome beside it.
    outcomes = [training_outcome(a, r) for a, r in zip(curves["accuracy"], curves["reliability"])]
    exact_outcomes = [training_outcome(a, r) for a, r in zip(curves["exact_accuracy"], curves["exact_reliability"])]
    # Canonical evaluation, then the paper's PSD test drawn over its randomness (the modal label, the share of draws
    # behind it, the median ratio and fluctuation; rnnzoo.labels) and the dynamics diagnostics.
    (final_loss, final_accuracy, final_reliability), diagnostics = _evaluate(job, weights, device, outcomes)
    return {
        **_common_columns(job, curves, final_loss, final_accuracy, final_reliability),
        # mechanism_share and dynamics_agrees are null unless learned (pyarrow would keep a float NaN as NaN)
        **{name: (diagnostics[name].astype(object).where(diagnostics["solves_task"], None).tolist()
                  if name in NULL_UNLESS_LEARNED else diagnostics[name].to_numpy()) for name in LABEL_COLUMNS},
        "exact_outcome": exact_outcomes,
        **{name: diagnostics[name].to_numpy() for name in DIAGNOSTIC_COLUMNS},
    }


def control_rows(job: Job, weights: Weights, curves: dict[str, list[np.ndarray]],
                 device: str | torch.device = "cpu") -> dict[str, list]:
    """The rows of a no-memory control job, labelled as the reference labels that family: 'learned' (class code 4)
    or 'failed' from the final 10% of its accuracy and reliability curves (rnnzoo.labels.control_outcome); there is
    no memory to test, so the PSD test and the dynamics diagnostics are not run (their columns are null)."""
    mechanisms = [control_outcome(a, r) for a, r in zip(curves["accuracy"], curves["reliability"])]
    exact = [control_outcome(a, r) for a, r in zip(curves["exact_accuracy"], curves["exact_reliability"])]
    (final_loss, final_accuracy, final_reliability), _ = _evaluate(job, weights, device)
    M = len(job.networks)
    return {
        **_common_columns(job, curves, final_loss, final_accuracy, final_reliability),
        "mechanism": mechanisms, "label": [LABEL_VALUES.index(m) for m in mechanisms],
        **{name: [None] * M for name in LABEL_COLUMNS[2:] + DIAGNOSTIC_COLUMNS},
        "exact_outcome": exact,
    }


def _evaluate(job: Job, weights: Weights, device: str | torch.device,
              outcomes: Sequence[str] | None = None) -> tuple[np.ndarray, pd.DataFrame | None]:
    """The canonical evaluation (loss, accuracy, reliability: [3, M]) of a job's networks and, given their training
    outcomes, their diagnostics (rnnzoo.analysis.diagnose), in chunks of networks so memory stays bounded for jobs of
    thousands of networks (each network draws from its own streams, so the chunking does not change any result)."""
    specs, task, fam = job.networks, job.task, job.family
    seeds = [n.seed for n in specs]
    metrics, frames = [], []
    for lo in range(0, len(specs), LABEL_CHUNK):
        part = slice(lo, lo + LABEL_CHUNK)
        chunk = weights.select(part).to(device)
        sim = run_task(chunk, task, fam.alpha, seeds[part])
        metrics.append(torch.stack([sim.loss, sim.accuracy, sim.reliability]).cpu())
        del sim
        if outcomes is not None:
            frames.append(diagnose(chunk, task, fam.alpha, seeds[part], outcomes=outcomes[part])[0])
    return torch.cat(metrics, dim=1).numpy(), pd.concat(frames, ignore_index=True) if frames else None


def _common_columns(job: Job, curves: dict[str, list[np.ndarray]], final_loss: np.ndarray,
                    final_accuracy: np.ndarray, final_reliability: np.ndarray) -> dict[str, list]:
    """The columns every family fills the same way: the protocol, the steps done, the canonical evaluation, the
    final-10% means of the curves and where the network is stored."""
    specs, fam = job.networks, job.family
    M = len(specs)

    def final_mean(name: str) -> list[float]:  # mean over the last 10% of training, as the outcome rule reads it
        return [float(np.mean(c[int(len(c) * 0.9):])) for c in curves[name]]

    # The trainer stops a network right after the step whose loss exceeds stop_loss, so that step is its last.
    stopped = [fam.stop_loss is not None and len(c) > 0 and bool(c[-1] > fam.stop_loss) for c in curves["loss"]]
    paths = job_paths(job.index)
    return {
        "id": [n.id for n in specs], "family": [fam.name] * M, "delay_ms": [job.delay_ms] * M,
        "lr": [n.lr for n in specs], "seed": [n.seed for n in specs],
        "n_units": [fam.n_units] * M, "alpha": [fam.alpha] * M, "tau_ms": [fam.tau_ms] * M,
        "dt_ms": [fam.dt_ms] * M, "cue_ms": [fam.cue_ms] * M, "reaction_ms": [job.reaction_ms] * M,
        "post_ms": [fam.post_ms] * M, "weighted_loss": [fam.weighted] * M, "cue_held": [fam.cue_held] * M,
        "target_held": [fam.target_held] * M, "readout": [fam.readout] * M,
        "steps": [len(c) for c in curves["loss"]], "early_stopped": stopped,
        "final_loss": final_loss, "final_accuracy": final_accuracy, "final_reliability": final_reliability,
        "train_accuracy": final_mean("accuracy"), "train_reliability": final_mean("reliability"),
        "train_exact_accuracy": final_mean("exact_accuracy"),
        "train_exact_reliability": final_mean("exact_reliability"),
        "shard": [paths["shard"]] * M, "row": list(range(M)), "curves": curve_paths(job),
        "job": [job.index] * M, "synthetic": [False] * M,
    }


def relabel_job(root: Path, job: Job, device: str | torch.device = "cpu") -> dict:
    """Recompute a finished job's networks table from its stored weights and curves (no training), keeping its
    checkpoint columns, and rewrite its table and record; returns the record. For label code that changed after
    the networks were trained: the weights and checkpoints stay byte for byte, the curves value for value (a job
    written before curves were split by seed gets its one curve file rewritten as one file per split)."""
    import pyarrow.parquet as pq

    if not job_done(root, job):
        raise ZooFormatError(f"job {job.index} of {root} is not finished (or its files are damaged); run the "
                             "generation to finish it before relabelling")
    paths = job_paths(job.index)
    record = json.loads((root / paths["record"]).read_text())
    weights = read_shard(root / paths["shard"])
    curve_files = sorted(set(pq.read_table(root / paths["table"], columns=["curves"]).column("curves").to_pylist()))
    stored = pa.concat_tables([pq.read_table(root / check_relpath(rel, root / paths["table"]))
                               for rel in curve_files]).to_pydict()
    order = {i: k for k, i in enumerate(stored["id"])}
    curves = {name: [np.asarray(stored[name][order[n.id]], np.float32) for n in job.networks]
              for name in stored if name != "id"}
    stale = sorted(set(curve_files) - set(curve_paths(job)))  # one curve file from before curves were split
    if stale:
        record["files"].update(write_curves(root, job, curves))
        for rel in stale:
            record["files"].pop(rel, None)
    rows = label_rows(job, weights, curves, device)
    old = pq.read_table(root / paths["table"]).to_pydict()
    for name in ("checkpoint_steps", "checkpoint_shard", "checkpoint_row"):
        if name in old:
            rows[name] = old[name]
    record["files"][paths["table"]] = write_table(root / paths["table"], networks_table(rows))
    write_json_atomic(root / paths["record"], record)
    for rel in stale:  # only once the record no longer lists it: a kill before leaves the job as it was
        (root / rel).unlink(missing_ok=True)
    return record
