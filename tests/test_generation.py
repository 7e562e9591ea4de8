"""Zoo generation: dry-run sizes, bad input, resume after a kill, job slices, worker processes and the Ray engine.

The uninterrupted reference is the session's `quick_zoo` (tiny preset, QUICK_STEPS steps, local engine).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import rnnzoo
from generation.jobs import job_done, job_paths
from generation.presets import get_preset
from generation.run import main as generate
from rnnzoo.store import read_shard
from conftest import QUICK_STEPS

REPO = Path(__file__).resolve().parent.parent


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def assert_same_weights(a: Path, b: Path, n_jobs: int) -> None:
    for index in range(n_jobs):
        shard = job_paths(index)["shard"]
        wa, wb = read_shard(a / shard), read_shard(b / shard)
        for name, tensor in wa.tensors().items():
            assert torch.equal(tensor, wb.tensors()[name]), (index, name)


def test_dry_run_prints_size_flops_and_projected_time(capsys):
    assert generate(["--preset", "tiny", "--dry-run", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "12 networks in 2 jobs, 12,000 network-steps" in out
    assert "training FLOPs" in out and "GFLOP/s" in out and "of training at" in out
    assert "GFLOP per CPU-second on one core" in out  # calibrated on the CPU clock, which load barely moves
    assert "no GPU seen here" in out or "a GPU is present" in out
    assert "curves about" in out and "trajectories about" in out and "every file together about" in out
    assert generate(["--preset", "all", "--dry-run", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "81,500 networks" in out and "246,000 networks" in out


def test_job_slices_partition_the_grid(capsys):
    jobs = get_preset("paper").jobs()
    slices = [jobs[i::7] for i in range(7)]
    assert sorted(j.index for s in slices for j in s) == list(range(len(jobs)))
    assert generate(["--preset", "tiny", "--dry-run", "--device", "cpu", "--job-index", "1", "--num-jobs", "2"]) == 0
    assert "6 networks in 1 jobs" in capsys.readouterr().out


def test_bad_input_is_refused_and_nothing_is_overwritten(quick_zoo, tmp_path, capsys):
    with pytest.raises(SystemExit):
        generate(["--preset", "nope", "--dry-run"])
    assert "unknown preset 'nope'; available presets: tiny" in capsys.readouterr().err
    before = tree_digest(quick_zoo)
    with pytest.raises(SystemExit, match="already holds a zoo of preset 'tiny'"):
        generate(["--preset", "sample", "--out", str(quick_zoo), "--device", "cpu"])
    assert tree_digest(quick_zoo) == before
    # An unreachable Ray head: a clear error, fast, and no job written.
    out = tmp_path / "ray-unreachable"
    started = time.time()
    code = generate(["--preset", "tiny", "--out", str(out), "--max-steps", "5", "--device", "cpu",
                     "--engine", "ray", "--address", "127.0.0.1:9"])
    assert code == 2 and time.time() - started < 30
    assert "cannot reach a Ray cluster at 127.0.0.1:9" in capsys.readouterr().err
    assert not (out / "jobs").exists() or not any((out / "jobs").iterdir())


@pytest.mark.slow
def test_killed_run_resumes_to_the_uninterrupted_result(quick_zoo, tmp_path, capsys):
    out = tmp_path / "killed"
    command = [sys.executable, str(REPO / "generation" / "run.py"), "--preset", "tiny", "--out", str(out),
               "--max-steps", str(QUICK_STEPS), "--device", "cpu"]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    first = out / job_paths(0)["record"]
    try:
        deadline = time.time() + 300
        while not first.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert first.exists(), "the first job never finished"
        proc.send_signal(signal.SIGKILL)  # mid-way through the second job
    finally:
        proc.kill()
        proc.wait()
    jobs = get_preset("tiny").jobs()
    assert job_done(out, jobs[0]) and not job_done(out, jobs[1])
    assert not (out / job_paths(1)["record"]).exists()
    assert not (out / "manifest.json").exists()
    # Resume with two worker processes: the done job is skipped, the killed one redone from scratch.
    assert generate(["--preset", "tiny", "--out", str(out), "--max-steps", str(QUICK_STEPS), "--device", "cpu",
                     "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    assert "resuming: 1 of 2 jobs already done" in printed and "peak MiB" in printed
    assert (out / "manifest.json").exists() and job_done(out, jobs[1])
    assert_same_weights(out, quick_zoo, len(jobs))


def _stat(pid: int | str) -> list[str] | None:
    """A process's /proc stat fields after its name (state, ppid, ...); None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _running(pid: int | str) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def _children(pid: int) -> list[int]:
    """Live processes whose parent is pid."""
    return [int(p.name) for p in Path("/proc").glob("[0-9]*")
            if (fields := _stat(p.name)) is not None and int(fields[1]) == pid and fields[0] != "Z"]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_workers_stop_when_the_run_is_killed(tmp_path):
    """Killing the run (SIGKILL: no cleanup runs) must not leave its worker processes training on for nobody."""
    command = [sys.executable, str(REPO / "generation" / "run.py"), "--preset", "tiny", "--out", str(tmp_path / "z"),
               "--device", "cpu", "--workers", "2"]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.time() + 120
        while len(_children(proc.pid)) < 2 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        workers = _children(proc.pid)
        assert len(workers) >= 2, "the run never started its workers"
        time.sleep(1.0)  # let them import torch and start training
    finally:
        proc.kill()
        proc.wait()
    deadline = time.time() + 20
    while any(_running(w) for w in workers) and time.time() < deadline:
        time.sleep(0.2)
    alive = [w for w in workers if _running(w)]
    assert alive == [], f"worker processes {alive} outlived the killed run"


@pytest.mark.slow
def test_ray_engine_on_a_local_instance_matches_the_local_engine(quick_zoo, tmp_path, capsys):
    pytest.importorskip("ray")
    out = tmp_path / "ray"
    assert generate(["--preset", "tiny", "--out", str(out), "--max-steps", str(QUICK_STEPS), "--device", "cpu",
                     "--engine", "ray", "--address", "local", "--workers", "2"]) == 0
    assert "12 networks in" in capsys.readouterr().out
    assert_same_weights(out, quick_zoo, len(get_preset("tiny").jobs()))
    # Rerunning finds every job done and trains nothing.
    assert generate(["--preset", "tiny", "--out", str(out), "--max-steps", str(QUICK_STEPS), "--device", "cpu",
                     "--engine", "ray", "--address", "local", "--workers", "2"]) == 0
    assert "resuming: 2 of 2 jobs already done" in capsys.readouterr().out


def test_progress_bars_stay_out_of_logs(tmp_path):
    """Off a terminal (a log file, a CI job) tqdm draws nothing: the full tiny run wrote ~1,060 bar lines before."""
    out = tmp_path / "zoo"
    done = subprocess.run([sys.executable, "generation/run.py", "--preset", "tiny", "--out", str(out),
                           "--max-steps", "10", "--device", "cpu"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no bar, no carriage-return frames
    assert "12 networks in" in done.stdout and len(done.stdout.splitlines()) < 40


def test_relabel_recomputes_the_same_tables_without_training(quick_zoo, tmp_path):
    """--relabel rebuilds every job's table from the stored weights and curves: with unchanged label code the tables,
    the networks table and the weights are byte for byte what training wrote."""
    import hashlib
    import shutil

    root = tmp_path / "zoo"
    shutil.copytree(quick_zoo, root)

    def digests() -> dict[str, str]:
        return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file() and p.suffix in (".parquet", ".safetensors")}

    before = digests()
    assert generate(["--preset", "tiny", "--out", str(root), "--max-steps", str(QUICK_STEPS), "--device", "cpu",
                     "--relabel"]) == 0
    assert digests() == before


def test_dry_run_storage_matches_the_embedded_sample(capsys):
    """The dry run's bytes for the sample preset against the files the sample really holds."""
    from generation.run import checkpoint_schedule, storage_estimate

    sample = Path(rnnzoo.__file__).parent / "data" / "sample"
    if not (sample / "manifest.json").is_file():
        pytest.skip("the packaged sample is absent")
    preset = get_preset("sample")
    factor, first = checkpoint_schedule(preset)
    estimate = storage_estimate(preset, preset.jobs(), factor, None, first)
    stored = {key: sum(p.stat().st_size for p in (sample / folder).glob("*") if p.is_file()) for key, folder in
              (("weights", "weights"), ("checkpoints", "checkpoints"), ("weights_view", "weights-parquet"),
               ("checkpoints_view", "checkpoints-parquet"))}
    for key in ("weights", "checkpoints"):  # float32 values plus small safetensors headers
        assert estimate[key] <= stored[key] <= estimate[key] * 1.01, key
    for key in ("weights_view", "checkpoints_view"):  # zstd on float bytes: an estimate
        assert abs(stored[key] / estimate[key] - 1) < 0.15, (key, stored[key], estimate[key])
    from generation.run import other_bytes

    other = other_bytes(preset.jobs())
    for key, folder in (("curves", "curves"), ("trajectories", "trajectories")):  # every other file the preset writes
        stored = sum(p.stat().st_size for p in (sample / folder).rglob("*") if p.is_file())
        assert abs(stored / other[key] - 1) < 0.15, (key, stored, other[key])
    assert generate(["--preset", "sample", "--dry-run", "--device", "cpu"]) == 0
    assert "Parquet views about" in capsys.readouterr().out
