"""Where a zoo's jobs run: in this process, in K local worker processes, or as Ray tasks on a cluster.

Every engine calls `execute_job(root, preset, index, ...)`, which skips a job already done (record present,
checksums matching), so any engine resumes an interrupted run and two engines never disagree on a result: a job's
weights depend only on its networks' seeds and learning rates.
"""

from __future__ import annotations

import os
import resource
import socket
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from generation.numerics import PINNED_ENV
from generation.presets import PRESETS, Job, get_preset

REPOSITORY = Path(__file__).resolve().parent.parent


class EngineError(RuntimeError):
    """An engine cannot start (an unreachable Ray cluster, a missing dependency): the message says how to fix it."""


@dataclass
class JobSummary:
    """What the summary table shows for one job."""

    job: int
    family: str
    delay_ms: int
    networks: int
    network_steps: int
    seconds: float
    skipped: bool
    device: str
    batch_size: int = 0
    peak_bytes: int = 0  # trainer buffers (CPU) or CUDA's peak allocated memory during the job
    max_rss_bytes: int = 0  # the worker process's peak resident memory so far
    worker: str = ""


def resolve_device(name: str) -> torch.device:
    """auto -> CUDA when visible, else CPU; refuses CUDA where there is none."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise EngineError(f"--device {name}: no CUDA device is visible here; use --device cpu or auto")
    return torch.device(name)


def execute_job(root: str | Path, preset_name: str, index: int | Job, device: str = "auto",
                max_steps: int | None = None, on_step: Callable[[int, int], None] | None = None) -> dict:
    """Run job `index` of a preset into `root` unless it is already done; returns its JobSummary as a dict.
    A plain function of picklable arguments, so worker processes and Ray tasks can call it. A job of a preset
    that is not registered (an adaptive run's rounds, generation/adaptive.py) comes by value: `index` is the Job."""
    from generation import train
    from generation.jobs import job_done, run_job
    from generation.numerics import check_cpu_numerics

    root = Path(root)
    job = index if isinstance(index, Job) else get_preset(preset_name).jobs()[index]
    dev = resolve_device(device)
    summary = JobSummary(job=job.index, family=job.family.name, delay_ms=job.delay_ms, networks=len(job.networks),
                         network_steps=job_network_steps(job, max_steps), seconds=0.0, skipped=True,
                         device=str(dev), worker=f"{socket.gethostname()}:{os.getpid()}")
    if job_done(root, job):
        return asdict(summary)
    if dev.type == "cpu":
        check_cpu_numerics()  # the same bits on every x86-64 CPU with AVX2, or no training at all
    # The trainer cuts the job into batches that fit in half the free memory (train.networks_per_batch).
    batch = min(len(job.networks), train.networks_per_batch(job.task, dev, job.family.n_units))
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    started = time.time()
    factor, first = checkpoint_schedule_of(root, preset_name)
    run_job(root, job, dev, on_step=on_step, max_steps=max_steps, checkpoint_factor=factor, checkpoint_first=first)
    summary.seconds = round(time.time() - started, 3)
    summary.skipped = False
    summary.batch_size = batch
    summary.peak_bytes = (int(torch.cuda.max_memory_allocated(dev)) if dev.type == "cuda"
                          else train.workspace_bytes(job.task, batch, job.family.n_units))
    summary.max_rss_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return asdict(summary)


def checkpoint_schedule_of(root: Path, preset_name: str) -> tuple[int | None, int]:
    """(factor, first step) of the checkpoints this zoo folder was claimed with (generation.json, so --checkpoints
    reaches every worker and Ray task), else the preset's own."""
    import json

    path = Path(root) / "generation.json"
    if path.is_file():
        generation = json.loads(path.read_text())
        if "checkpoint_factor" in generation:
            return generation["checkpoint_factor"], int(generation.get("checkpoint_first", 1))
    preset = get_preset(preset_name)
    return preset.checkpoint_factor, preset.checkpoint_first


def job_ref(preset_name: str, job: Job) -> int | Job:
    """How a job travels to a worker: its index for a registered preset (the worker rebuilds it), else by value."""
    return job.index if preset_name in PRESETS else job


def job_network_steps(job: Job, max_steps: int | None) -> int:
    """Network-steps a job trains (capped by --max-steps)."""
    return sum(n.steps if max_steps is None else min(n.steps, max_steps) for n in job.networks)


def _worker_init(threads: int, memory_fraction: float, parent: int | None = None) -> None:
    """A local worker: single-threaded torch, and its share of the free memory for its batches. It exits when the
    run that started it is gone (killed with SIGTERM or SIGKILL), instead of training on for nobody; its unfinished
    job leaves no shard, and the next run redoes it."""
    torch.set_num_threads(threads)
    os.environ["RNNZOO_MEMORY_FRACTION"] = str(memory_fraction)
    os.environ["RNNZOO_TRAIN_THREADS"] = "1"  # one core per worker: no batch-splitting threads
    if parent is not None:
        threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int, interval_s: float = 1.0) -> None:
    """Poll the parent pid; once the worker has been re-parented (its run died), exit at once."""
    while os.getppid() == parent:
        time.sleep(interval_s)
    os._exit(1)


def largest_first(jobs: Sequence[Job]) -> list[Job]:
    """Jobs ordered by their training cost (network-steps x trial length), largest first, so that parallel workers
    do not end with one long job running alone (results do not depend on the order)."""
    return sorted(jobs, key=lambda job: (-job.network_steps * job.task.n_steps, job.index))


def run_local(root: Path, preset_name: str, jobs: Sequence[Job], device: str, max_steps: int | None,
              workers: int = 1, on_done: Callable[[dict], None] | None = None,
              on_step: Callable[[Job], Callable[[int, int], None]] | None = None) -> list[dict]:
    """Run jobs in this process (workers <= 1, with per-step progress) or in `workers` processes, one job each."""
    summaries = []
    if workers <= 1:
        for job in jobs:
            summary = execute_job(root, preset_name, job_ref(preset_name, job), device, max_steps,
                                  on_step=None if on_step is None else on_step(job))
            summaries.append(summary)
            if on_done:
                on_done(summary)
        return summaries
    import multiprocessing

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_worker_init, initargs=(1, 0.5 / workers, os.getpid())) as pool:
        futures = [pool.submit(execute_job, str(root), preset_name, job_ref(preset_name, job), device, max_steps)
                   for job in largest_first(jobs)]
        for future in as_completed(futures):
            summary = future.result()
            summaries.append(summary)
            if on_done:
                on_done(summary)
    return sorted(summaries, key=lambda s: s["job"])


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast, with the fix, when a Ray address (host:port or ray://host:port) does not answer."""
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise EngineError(f"--address {address!r} is not host:port (or ray://host:port); give the head node's "
                          "address, 'auto' for the cluster this machine belongs to, or 'local' for a local instance")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise EngineError(f"cannot reach a Ray cluster at {address} ({exc}); start one with `ray start --head` on "
                          "the head node and pass its address, or use --address local for a local instance") from exc


def run_ray(root: Path, preset_name: str, jobs: Sequence[Job], device: str, max_steps: int | None, address: str,
            retries: int = 3, gpus_per_job: float = 0.25, cpus: int | None = None,
            on_done: Callable[[dict], None] | None = None) -> list[dict]:
    """Run each job as a Ray task: one CPU, and `gpus_per_job` of a GPU when the device is CUDA; a task that fails
    (a lost node, an exception) is retried up to `retries` times; finished jobs are skipped, so reruns resume.
    address: 'local' starts a local instance (cpus CPUs), 'auto' joins this machine's cluster, host:port a head."""
    try:
        import ray
    except ImportError as exc:
        raise EngineError("--engine ray needs Ray: pip install 'ray[default]'") from exc
    if address not in ("local", "auto"):
        check_reachable(address)
    started_here = not ray.is_initialized()
    if started_here:
        try:
            # Workers import generation/ from this checkout (the same path must exist on a remote cluster's nodes).
            # Jobs sharing a GPU share its memory: each sizes its batches from its fraction of the free memory.
            runtime_env = {"env_vars": {
                "PYTHONPATH": os.pathsep.join(
                    [str(REPOSITORY)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]),
                "RNNZOO_MEMORY_FRACTION": str(0.5 * min(1.0, gpus_per_job) if device != "cpu" else 0.5),
                "RNNZOO_TRAIN_THREADS": "1",  # a task holds one CPU
                **{k: os.environ[k] for k in PINNED_ENV if k in os.environ}}}  # pinned CPU numerics
            if address == "local":
                ray.init(num_cpus=cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False,
                         runtime_env=runtime_env)
            else:
                ray.init(address=address, log_to_driver=False, runtime_env=runtime_env)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise EngineError(f"cannot connect to Ray at {address!r}: {exc}; start a cluster with "
                              "`ray start --head` and pass its address, or use --address local") from exc
    use_gpu = device.startswith("cuda") or (device == "auto" and bool(ray.cluster_resources().get("GPU")))
    task = ray.remote(execute_job).options(num_cpus=1, num_gpus=gpus_per_job if use_gpu else 0,
                                           max_retries=retries, retry_exceptions=True)
    pending = {task.remote(str(Path(root).resolve()), preset_name, job_ref(preset_name, job), device, max_steps): job
               for job in largest_first(jobs)}
    summaries = []
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(done[0])
            try:
                summary = ray.get(done[0])
            except Exception as exc:  # retries exhausted
                raise EngineError(f"job {job.index} failed after {retries} retries: {exc}") from exc
            summaries.append(summary)
            if on_done:
                on_done(summary)
    finally:
        if started_here:
            ray.shutdown()
    return sorted(summaries, key=lambda s: s["job"])
