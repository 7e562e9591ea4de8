"""Generation under faults: a second generator, leftovers of killed writes, a failed figure write, reruns and
kills at random points. The reference is the session's uninterrupted `quick_zoo` (tiny preset, QUICK_STEPS steps);
every test works on copies or fresh folders and compares real files.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rnnzoo
from conftest import QUICK_STEPS
from generation.publish import validate
from rnnzoo.folder import FolderInUse, FolderLock, LinkOutOfFolder
from generation.run import main as generate
from rnnzoo.store import RUN_LOG, ZooFormatError, read_manifest
from rnnzoo.verify import verify_zoo

REPO = Path(__file__).resolve().parent.parent
ARGS = ["--preset", "tiny", "--max-steps", str(QUICK_STEPS), "--device", "cpu"]


def tree(root: Path) -> dict[str, str]:
    """sha256 of every file under root (hidden ones included), the run log left out: it is per run by design."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != RUN_LOG}


@pytest.fixture
def zoo_copy(quick_zoo, tmp_path) -> Path:
    return Path(shutil.copytree(quick_zoo, tmp_path / "zoo"))


def plant_debris(root: Path) -> list[str]:
    """What killed writes leave, named as the writers name their work in progress."""
    shard = sorted((root / "weights").glob("*.safetensors"))[0]
    debris = {
        f".trajectories.k3x9a1.tmp/{p.relative_to(root / 'trajectories').as_posix()}": p.read_bytes()
        for p in (root / "trajectories").rglob("*") if p.is_file()}
    debris[".trajectories.old.q8w2e4/trajectories/zarr.json"] = (root / "trajectories" / "zarr.json").read_bytes()
    debris[f"weights/.{shard.name}.j4k5l6.tmp"] = shard.read_bytes()[:1000]
    debris[".networks.parquet.z1y2x3.tmp"] = b"PAR1 partial"
    for rel, data in debris.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return [".trajectories.k3x9a1.tmp", ".trajectories.old.q8w2e4", f"weights/.{shard.name}.j4k5l6.tmp",
            ".networks.parquet.z1y2x3.tmp"]


# ---- 9. one generator per folder -----------------------------------------------------------------------------
def test_the_lock_refuses_a_second_generator_and_lets_slices_share(tmp_path):
    root = tmp_path / "zoo"
    with FolderLock(root):
        with pytest.raises(FolderInUse, match=r"zoo is in use by another rnnzoo writer .* choose another folder"):
            FolderLock(root).__enter__()
        with pytest.raises(FolderInUse, match="in use by another"):
            FolderLock(root, shared=True).__enter__()
    with FolderLock(root, shared=True), FolderLock(root, shared=True):  # slices of one run
        with pytest.raises(FolderInUse, match="in use by another"):
            FolderLock(root).__enter__()
    with FolderLock(root):  # released on exit
        pass
    assert list(root.iterdir()) == []  # the lock is on the folder itself: no file left behind


def test_a_running_generator_keeps_a_second_one_out(tmp_path, capsys):
    out = tmp_path / "zoo"
    proc = subprocess.Popen([sys.executable, str(REPO / "generation" / "run.py"), "--out", str(out), *ARGS],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.time() + 120
        while not (out / "generation.json").exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the first generator ended before the second could try"
        assert generate(["--out", str(out), *ARGS]) == 2
        assert "in use by another rnnzoo writer" in capsys.readouterr().err
    finally:
        proc.kill()
        proc.wait()
    assert not (out / "manifest.json").exists()


# ---- 2. no debris --------------------------------------------------------------------------------------------
def test_leftovers_of_killed_writes_are_flagged_and_never_recorded(zoo_copy, capsys):
    planted = plant_debris(zoo_copy)
    problems = verify_zoo(zoo_copy)
    for rel in planted:
        assert any(f"{zoo_copy / rel} is left over from an interrupted write" in p for p in problems), rel
    assert any("left over from an interrupted write" in p for p in validate(zoo_copy, check_datasets=False))
    # A rerun (every job done: it reassembles) removes them and records none.
    assert generate(["--out", str(zoo_copy), *ARGS]) == 0
    assert "removed 4 leftover(s) of an interrupted run" in capsys.readouterr().out
    assert not [p for p in zoo_copy.rglob(".*")]
    recorded = read_manifest(zoo_copy)["files"]
    assert not [rel for rel in recorded if any(part.startswith(".") for part in rel.split("/"))]
    card = (zoo_copy / "README.md").read_text()
    assert "k3x9a1" not in card and "q8w2e4" not in card and "j4k5l6" not in card
    assert verify_zoo(zoo_copy) == []


def test_unlisted_files_in_the_data_folders_are_flagged(zoo_copy):
    extra = zoo_copy / "weights" / "shard-99999.safetensors"
    extra.write_bytes(b"not listed")
    assert any(f"{extra} is not listed in" in p for p in verify_zoo(zoo_copy))


def test_trajectory_chunks_are_fsynced_before_the_swap(zoo_copy, monkeypatch):
    import pandas as pd

    from rnnzoo.trajectories import write_trajectories

    synced = []
    fsync = os.fsync

    def recording(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    written = write_trajectories(zoo_copy, pd.read_parquet(zoo_copy / "networks.parquet"), progress=False)
    chunks = [rel for rel in written if "/c/" in rel]
    assert chunks and all(rel.startswith("trajectories/") for rel in written)
    tails = {path.split(".tmp/", 1)[1] for path in synced if ".trajectories." in path and ".tmp/" in path}
    missing = [rel for rel in written if rel.removeprefix("trajectories/") not in tails]
    assert missing == []  # every file, chunks included, was fsynced where it was written


# ---- 3. a failed write fails the run ---------------------------------------------------------------------------
def test_a_failed_figure_write_fails_the_run(zoo_copy, monkeypatch, capsys):
    import matplotlib.figure

    def disk_full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", disk_full)
    assert generate(["--out", str(zoo_copy), *ARGS]) == 3
    err = capsys.readouterr().err
    assert "error: writing the zoo" in err and "No space left on device" in err and "rerun the same command" in err
    assert not (zoo_copy / "manifest.json").exists()  # nothing claims to be finished
    with pytest.raises(ZooFormatError, match="manifest.json is missing"):
        verify_zoo(zoo_copy)
    assert validate(zoo_copy, check_datasets=False) != []
    monkeypatch.undo()
    assert generate(["--out", str(zoo_copy), *ARGS]) == 0  # the cause fixed, the same command finishes it
    assert verify_zoo(zoo_copy) == []


# ---- 10. what is recorded depends on the data alone -------------------------------------------------------------
def test_a_rerun_of_a_finished_zoo_changes_no_recorded_byte(quick_zoo, zoo_copy):
    assert generate(["--out", str(zoo_copy), *ARGS]) == 0
    assert tree(zoo_copy) == tree(quick_zoo)
    log = [json.loads(line) for line in (zoo_copy / RUN_LOG).read_text().splitlines()]
    assert log[-1]["out"] == str(zoo_copy.resolve()) and log[-1]["outcome"] == "done" and log[-1]["started"]
    assert RUN_LOG not in read_manifest(zoo_copy)["files"]


def test_no_recorded_file_holds_a_local_path_or_a_time(quick_zoo):
    manifest = read_manifest(quick_zoo)
    assert "created" not in manifest
    for rel in manifest["files"]:
        data = (quick_zoo / rel).read_bytes()
        assert str(quick_zoo).encode() not in data and str(quick_zoo.parent).encode() not in data, rel
    assert json.loads((quick_zoo / "figures" / "phases.json").read_text())["source"] == "."
    for record in (quick_zoo / "jobs").glob("job-*.json"):
        assert "seconds" not in json.loads(record.read_text())


# ---- the fault-injection run ----------------------------------------------------------------------------------
def _start(out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / "generation" / "run.py"), "--out", str(out), *ARGS],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(REPO)})


def _kill_when(proc: subprocess.Popen, reached, delay_s: float) -> bool:
    """SIGKILL proc `delay_s` after `reached()` first holds; False if proc ended before that."""
    deadline = time.time() + 300
    while not reached() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    if proc.poll() is not None:
        return False
    time.sleep(delay_s)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


@pytest.mark.slow
def test_kills_at_random_points_resume_to_the_uninterrupted_zoo(quick_zoo, tmp_path):
    """Kill the generator during training, assembly, the trajectories and the card (a random moment within
    each), resume each time with the same command, and compare with the uninterrupted zoo file for file."""
    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    out = tmp_path / "killed"

    def fresh(pattern: str):  # a file or folder matching pattern, made by the run started at `since`
        return lambda since: any(p.lstat().st_mtime_ns >= since for p in out.glob(pattern))

    phases = [
        ("training", fresh("jobs/job-00000.json"), rng.uniform(0.0, 1.5)),
        ("assembly", fresh("networks.parquet"), rng.uniform(0.0, 0.2)),
        ("trajectories", fresh(".trajectories.*"), rng.uniform(0.0, 0.2)),
        ("card", fresh("figures/*"), rng.uniform(0.0, 0.5)),
    ]
    killed = []
    for phase, reached, delay in phases:
        since = time.time_ns() - 10**9  # file times may lag the clock by a tick
        proc = _start(out)
        if _kill_when(proc, lambda: reached(since), delay):
            killed.append(phase)
            assert not (out / "manifest.json").exists(), f"killed in {phase} (seed {seed}), the folder looks finished"
        else:
            assert proc.returncode == 0, f"the run meant to be killed in {phase} failed (seed {seed})"
    assert "training" in killed and len(killed) >= 3, f"kills landed in {killed} only (seed {seed})"
    assert generate(["--out", str(out), *ARGS]) == 0
    assert tree(out) == tree(quick_zoo), f"resumed zoo differs (kills in {killed}, seed {seed})"
    assert verify_zoo(out) == []


def test_figures_of_a_local_folder_do_not_record_its_absolute_path(quick_zoo, tmp_path):
    import rnnzoo
    from rnnzoo.figures import make_figures

    made = make_figures(rnnzoo.load(str(quick_zoo.resolve())), tmp_path / "figures", n_boot=10)
    text = Path(made["json"]).read_text()
    assert json.loads(text)["source"] == quick_zoo.name and str(quick_zoo.parent) not in text


def test_a_failure_between_the_trajectory_renames_leaves_no_finished_looking_zoo(quick_zoo, zoo_copy, monkeypatch,
                                                                                 capsys):
    """Reassembling a finished zoo moves the old trajectories aside, then renames the new ones into place; a
    failure between the two renames must not leave a manifest over a folder without trajectories/."""
    import rnnzoo

    replace = os.replace

    def fail_second_rename(src, dst):
        if Path(src).name.startswith(".trajectories.") and Path(dst).name == "trajectories":
            raise OSError(errno.EIO, "Input/output error")
        return replace(src, dst)

    monkeypatch.setattr(os, "replace", fail_second_rename)
    assert generate(["--out", str(zoo_copy), *ARGS]) == 3
    assert "Input/output error" in capsys.readouterr().err
    assert not (zoo_copy / "trajectories").exists() and not (zoo_copy / "manifest.json").exists()
    with pytest.raises(ZooFormatError, match="holds no finished zoo.*rerun"):
        rnnzoo.load(zoo_copy)
    monkeypatch.undo()
    assert generate(["--out", str(zoo_copy), *ARGS]) == 0
    assert tree(zoo_copy) == tree(quick_zoo)


def test_card_rendering_waits_for_no_one_and_changes_nothing_while_a_writer_holds_the_folder(zoo_copy, capsys):
    from generation.card import main as render

    before = {p: p.read_bytes() for p in (zoo_copy / "README.md", zoo_copy / "manifest.json")}
    with FolderLock(zoo_copy):  # a generation or assembly in progress
        assert render([str(zoo_copy)]) == 2
    assert "in use by another rnnzoo writer" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in before} == before
    assert render([str(zoo_copy)]) == 0  # alone, it renders


# ---- 10. no read, write or verify through a link that leaves the folder ---------------------------------------
def test_links_out_of_the_folder_are_refused_by_readers_verify_and_writers(zoo_copy, tmp_path, capsys):
    shard = sorted((zoo_copy / "weights").glob("*.safetensors"))[0]
    outside = tmp_path / "elsewhere" / shard.name
    outside.parent.mkdir()
    shutil.move(shard, outside)
    shard.symlink_to(outside)  # same bytes, so the sha256 still matches: only the link check can tell
    zoo = rnnzoo.load(zoo_copy)
    with pytest.raises(LinkOutOfFolder, match=rf"{shard.name} is a symbolic link to .*elsewhere.*outside the zoo "
                                              r"folder.*Replace the link with the file"):
        zoo.weights()
    assert any(f"{shard} is a symbolic link" in p for p in verify_zoo(zoo_copy))
    assert generate(["--preset", "tiny", "--out", str(zoo_copy), "--max-steps", str(QUICK_STEPS), "--device", "cpu"]) == 2
    assert "is a symbolic link" in capsys.readouterr().err
    assert outside.is_file() and shard.is_symlink()  # nothing was written through or over it


def test_figures_and_card_never_write_through_a_linked_folder(zoo_copy, tmp_path, capsys):
    from generation.card import main as render
    from rnnzoo.cli import main as cli

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(zoo_copy / "figures")
    (zoo_copy / "figures").symlink_to(elsewhere, target_is_directory=True)
    assert cli(["figures", "--source", str(zoo_copy), "--out", str(zoo_copy / "figures")]) == 2
    assert "is a symbolic link" in capsys.readouterr().err
    assert render([str(zoo_copy)]) == 2
    assert list(elsewhere.iterdir()) == []


def test_a_card_pattern_selecting_a_link_out_is_a_named_problem(zoo_copy, tmp_path):
    view = sorted((zoo_copy / "weights-parquet").glob("*.parquet"))[0]
    copy = tmp_path / view.name
    shutil.copy(view, copy)
    view.unlink()
    view.symlink_to(copy)
    problems = verify_zoo(zoo_copy)  # a named problem, not a raw ValueError
    assert any(f"{view} is a symbolic link" in p for p in problems), problems
