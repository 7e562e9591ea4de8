"""Run one job: train its networks in one batch, evaluate and label them, write its shard and records.

A job is done when jobs/job-NNNNN.json exists and the files it lists match their checksums; it is written last,
so an interrupted job is simply redone.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from generation.presets import Job
from generation.train import train_population
from rnnzoo import __version__
from rnnzoo.analysis.classify import diagnose
from rnnzoo.labels import MECHANISMS, training_outcome
from rnnzoo.simulation import run_task
from rnnzoo.store import (
    CURVES_DIR,
    DIAGNOSTIC_COLUMNS,
    JOBS_DIR,
    WEIGHTS_DIR,
    ChecksumError,
    ZooFormatError,
    check_relpath,
    curves_table,
    networks_table,
    verify_file,
    write_json_atomic,
    write_shard,
    write_table,
)


LABEL_CHUNK = 256  # networks evaluated and labelled together


def job_paths(job_index: int) -> dict[str, str]:
    stem = f"{job_index:05d}"
    return {
        "shard": f"{WEIGHTS_DIR}/shard-{stem}.safetensors",
        "curves": f"{CURVES_DIR}/shard-{stem}.parquet",
        "table": f"{JOBS_DIR}/job-{stem}.parquet",
        "record": f"{JOBS_DIR}/job-{stem}.json",
    }


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
            on_step: Callable[[int, int], None] | None = None, max_steps: int | None = None) -> dict:
    """Train, evaluate, label and write one job; returns its record."""
    started = time.time()
    specs = job.networks
    seeds = [n.seed for n in specs]
    lrs = [n.lr for n in specs]
    steps = [n.steps if max_steps is None else min(n.steps, max_steps) for n in specs]
    task, fam = job.task, job.family
    result = train_population(seeds, lrs, steps, task, fam.alpha, n_units=fam.n_units, device=device, on_step=on_step)
    outcomes = [training_outcome(a, r) for a, r in zip(result.curves["accuracy"], result.curves["reliability"])]
    # Canonical evaluation, then the reference's PSD / fluctuation (rnnzoo.labels, unchanged) and the dynamics
    # diagnostics, in chunks of networks so memory stays bounded for jobs of thousands of networks (each network
    # draws from its own streams, so the chunking does not change any result).
    metrics, frames = [], []
    for lo in range(0, len(specs), LABEL_CHUNK):
        part = slice(lo, lo + LABEL_CHUNK)
        weights = result.weights.select(part).to(device)
        sim = run_task(weights, task, fam.alpha, seeds[part])
        metrics.append(torch.stack([sim.loss, sim.accuracy, sim.reliability]).cpu())
        del sim
        frames.append(diagnose(weights, task, fam.alpha, seeds[part], outcomes=outcomes[part])[0])
    final_loss, final_accuracy, final_reliability = torch.cat(metrics, dim=1).numpy()
    diagnostics = pd.concat(frames, ignore_index=True)
    scores = {"psd_ratio": diagnostics["psd_ratio"].to_numpy(np.float32),
              "fluctuation": diagnostics["fluctuation"].to_numpy(np.float32),
              "mechanism": diagnostics["reference_label"].to_numpy()}

    mechanisms, train_acc, train_rel = [], [], []
    for i in range(len(specs)):
        acc, rel = result.curves["accuracy"][i], result.curves["reliability"][i]
        outcome = outcomes[i]
        mechanisms.append(str(scores["mechanism"][i]) if outcome == "learned" else outcome)
        tail = slice(int(len(acc) * 0.9), None)
        train_acc.append(float(np.mean(acc[tail])))
        train_rel.append(float(np.mean(rel[tail])))

    paths = job_paths(job.index)
    ids = [n.id for n in specs]
    files = {paths["shard"]: write_shard(root / paths["shard"], result.weights, ids,
                                         {"job": job.index, "family": fam.name, "delay_ms": job.delay_ms})}
    files[paths["curves"]] = write_table(root / paths["curves"], curves_table(ids, result.curves))
    M = len(specs)
    rows = {
        "id": ids, "family": [fam.name] * M, "delay_ms": [job.delay_ms] * M, "lr": lrs, "seed": seeds,
        "n_units": [fam.n_units] * M, "alpha": [fam.alpha] * M, "tau_ms": [fam.tau_ms] * M,
        "dt_ms": [fam.dt_ms] * M, "cue_ms": [fam.cue_ms] * M, "reaction_ms": [job.reaction_ms] * M,
        "post_ms": [fam.post_ms] * M, "weighted_loss": [fam.weighted] * M, "cue_held": [fam.cue_held] * M,
        "steps": steps,
        "final_loss": final_loss, "final_accuracy": final_accuracy, "final_reliability": final_reliability,
        "train_accuracy": train_acc, "train_reliability": train_rel,
        "mechanism": mechanisms, "label": [MECHANISMS.index(m) for m in mechanisms],
        "psd_ratio": scores["psd_ratio"], "fluctuation": scores["fluctuation"],
        **{name: diagnostics["label" if name == "dynamics_label" else name].to_numpy() for name in DIAGNOSTIC_COLUMNS},
        "shard": [paths["shard"]] * M, "row": list(range(M)), "curves": [paths["curves"]] * M,
        "job": [job.index] * M, "synthetic": [False] * M,
    }
    files[paths["table"]] = write_table(root / paths["table"], networks_table(rows))
    # Only what the job's data depend on: its wall-clock time goes to the run log (the engines time each job), so
    # a job redone after a kill writes the same record, byte for byte.
    record = {"job": job.index, "ids": ids, "files": files, "network_steps": int(sum(steps)), "device": str(device),
              "rnnzoo_version": __version__, "torch_version": torch.__version__}
    write_json_atomic(root / paths["record"], record)
    return {**record, "seconds": round(time.time() - started, 3)}
