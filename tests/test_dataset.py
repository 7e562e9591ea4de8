"""A zoo folder is a Hugging Face dataset: card, configs, trajectories, checksums, publishing, embedded sample."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import DatasetCard

import rnnzoo
from generation.card import card_problems, render_card
from generation.publish import main as publish
from generation.publish import upload_plan
from rnnzoo.labels import MECHANISMS
from rnnzoo.sources import SAMPLE_DIR
from rnnzoo.store import (
    FORMAT_VERSION,
    ZooFormatError,
    read_card_metadata,
    write_json_atomic,
    write_table,
)
from rnnzoo.verify import verify_zoo

REPO = Path(__file__).resolve().parent.parent
SAMPLE_MISSING = "the packaged sample is absent: generate it with " \
                 "`python generation/run.py --preset sample --out rnnzoo/data/sample`"


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime of every file under root: to prove a check wrote nothing."""
    return {p.relative_to(root).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def zoo_copy(quick_zoo, tmp_path) -> Path:
    dst = tmp_path / "zoo"
    shutil.copytree(quick_zoo, dst)
    return dst


# ---- layout and card -------------------------------------------------------------------------------------------
def test_card_front_matter_and_sections(quick_zoo):
    meta = read_card_metadata(quick_zoo / "README.md")
    assert meta["license"] == "cc-by-4.0" and meta["size_categories"] == ["n<1K"] and meta["pretty_name"]
    assert "model-zoo" in meta["tags"]
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert set(configs) == {"networks", "curves", "weights", "checkpoints"} and configs["networks"].get("default") is True
    paths = [f["path"] for c in configs.values() for f in c["data_files"]]
    splits = ("train", "validation", "test")
    assert [f["split"] for c in configs.values() for f in c["data_files"]] == list(splits) * 4  # every config split
    assert paths == [f"networks-by-split/{split}.parquet" for split in splits] + [  # only Parquet: never shards,
        f"{folder}/{split}-*.parquet" for folder in ("curves", "weights-parquet", "checkpoints-parquet")  # zarr, jobs
        for split in splits]
    assert card_problems(quick_zoo) == []
    text = (quick_zoo / "README.md").read_text()
    assert "2502.17433" in text and "2311.10200" in text
    figure = re.search(r"!\[[^\]]*\]\(([^)]+)\)", text).group(1)
    assert (quick_zoo / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads((quick_zoo / "manifest.json").read_text())
    assert {"README.md", figure, "trajectories/zarr.json"} <= set(manifest["files"])  # manifest written last


def test_card_counts_are_the_real_counts(quick_zoo):
    table = pd.read_parquet(quick_zoo / "networks.parquet")
    text = (quick_zoo / "README.md").read_text()
    block = text[text.index("| delay (ms) |"):].split("\n\n")[0].splitlines()
    header = [c.strip() for c in block[0].strip("|").split("|")]
    assert header == ["delay (ms)", *MECHANISMS, "total"]
    for line in block[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows = table if cells[0] == "all" else table[table["delay_ms"] == int(cells[0])]
        assert [int(c) for c in cells[1:]] == [int((rows["mechanism"] == m).sum()) for m in MECHANISMS] + [len(rows)]
    assert block[-1].startswith("| all |") and len(block) == 2 + table["delay_ms"].nunique() + 1


def test_card_renders_for_a_finished_zoo_and_flags_an_incomplete_one(zoo_copy):
    manifest = json.loads((zoo_copy / "manifest.json").read_text())
    info = {k: v for k, v in manifest.items() if k not in ("files", "format_version")}
    text = render_card(zoo_copy, info)
    assert text == (zoo_copy / "README.md").read_text()  # rendering is deterministic
    (zoo_copy / "README.md").write_text(text.replace("## Citation", "## Cites").replace("2311.10200", "?"))
    problems = card_problems(zoo_copy)
    assert any("'## Citation' is missing" in p for p in problems)
    assert any("2311.10200" in p for p in problems)


def test_card_cli_refreshes_the_manifest_but_refuses_a_damaged_zoo(zoo_copy, capsys):
    from generation.card import main as card_main

    (zoo_copy / "README.md").write_text("edited by hand\n")
    assert card_main([str(zoo_copy)]) == 0 and verify_zoo(zoo_copy) == [] and card_problems(zoo_copy) == []
    shard = zoo_copy / "weights/shard-00000.safetensors"
    shard.write_bytes(shard.read_bytes()[:-10])
    before = snapshot(zoo_copy)
    assert card_main([str(zoo_copy)]) == 2
    assert str(shard) in capsys.readouterr().err and snapshot(zoo_copy) == before


def test_parquet_row_groups_are_capped(tmp_path, monkeypatch):
    import rnnzoo.store as store

    table = pa.table({"x": pa.array(np.arange(10_000, dtype=np.float32))}, schema=pa.schema([("x", pa.float32())]))
    monkeypatch.setattr(store, "ROW_GROUP_BYTES", 8_000)  # 2,000 float32 values a group
    write_table(tmp_path / "t.parquet", table)
    meta = pq.ParquetFile(tmp_path / "t.parquet").metadata
    assert meta.num_row_groups == 5 and pq.read_schema(tmp_path / "t.parquet").field("x").type == pa.float32()


# ---- datasets --------------------------------------------------------------------------------------------------
def test_load_dataset_returns_the_networks_table_and_each_config(quick_zoo, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    cache = str(tmp_path / "cache")
    table = pd.read_parquet(quick_zoo / "networks.parquet")
    default = datasets.load_dataset(str(quick_zoo), cache_dir=cache)
    assert list(default) == ["train", "validation", "test"]  # the splits by seed, as in the weights config
    assert default["train"].features["final_accuracy"].dtype == "float32"
    assert datasets.get_dataset_config_names(str(quick_zoo)) == ["networks", "curves", "weights", "checkpoints"]
    for split, networks in datasets.load_dataset(str(quick_zoo), "networks", cache_dir=cache).items():
        rows = table[table["split"] == split]
        assert networks["id"] == rows["id"].tolist() and len(rows) > 0
        assert networks["mechanism"] == rows["label"].tolist()  # the ClassLabel's codes are the table's label
        assert networks.features["mechanism"].int2str(networks["mechanism"]) == rows["mechanism"].tolist()
    curves = datasets.load_dataset(str(quick_zoo), "curves", cache_dir=cache)
    assert list(curves) == ["train", "validation", "test"]
    for split, part in curves.items():
        assert sorted(part["id"]) == sorted(table.loc[table["split"] == split, "id"]) and len(part[0]["loss"]) == 120


# ---- trajectories ----------------------------------------------------------------------------------------------
def test_trajectories_are_the_canonical_trials_joined_by_id(quick_zoo):
    import zarr

    zoo = rnnzoo.load(source=quick_zoo)
    stored = zoo.trajectories()
    assert len(stored) == len(zoo) and stored.ids == zoo.metadata["id"].tolist()
    group = zarr.open_group(str(quick_zoo / "trajectories/nopost/d040-r050"), mode="r")
    ids = group.attrs["ids"]
    table_order = sorted(ids)
    assert ids != table_order  # rows follow the jobs, not the table: only the id joins them
    rates = group["rates"]
    assert rates.chunks == (1, 2, 24, 100) and rates.shards == (6, 2, 24, 100) and rates.dtype == np.float32
    sub = zoo.filter(delay=40).sample(3, seed=1)
    for net in sub:
        sim = net.simulate()
        traj = sub.trajectories()[net.id]
        assert traj.trials.tolist() == [0, 64] and traj.cues.tolist() == [0, 1]
        np.testing.assert_array_equal(traj.rates, sim.rates[0, traj.trials].numpy())
        np.testing.assert_array_equal(traj.outputs, sim.outputs[0, traj.trials].numpy())
        np.testing.assert_array_equal(traj.rates, rates[ids.index(net.id)])
    assert np.array_equal(sub.trajectories()[0].rates, sub.trajectories()[sub[0].id].rates)
    with pytest.raises(KeyError, match="no network with id"):
        stored["nopost-d999-lr1.000e-01-s000"]
    with pytest.raises(ValueError, match="filter the zoo to one delay"):
        stored.stack()
    assert stored.stack(sub.metadata["id"])["rates"].shape == (3, 2, 24, 100)


def test_trajectory_reads_check_the_shard_checksum(zoo_copy):
    shard = zoo_copy / "trajectories/nopost/d020-r050/rates/c/0/0/0/0"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    zoo = rnnzoo.load(source=zoo_copy, delay=20)
    with pytest.raises(ZooFormatError, match=re.escape(str(shard))):
        zoo.trajectories()[zoo[0].id]


def test_a_zoo_without_trajectories_says_so(zoo_copy, capsys):
    from rnnzoo.store import write_manifest

    shutil.rmtree(zoo_copy / "trajectories")
    manifest = json.loads((zoo_copy / "manifest.json").read_text())
    write_manifest(zoo_copy, {k: v for k, v in manifest.items() if k not in ("files", "format_version")})
    with pytest.raises(ZooFormatError, match="stores no trajectories.*zoo.simulate"):
        rnnzoo.load(source=zoo_copy).trajectories()
    assert publish([str(zoo_copy), "--repo-id", "org/zoo", "--dry-run"]) == 1
    assert f"{zoo_copy / 'trajectories'} is missing" in capsys.readouterr().err


# ---- verify and publish: damaged copies ---------------------------------------------------------------------
def test_verify_names_each_damaged_file_and_writes_nothing(zoo_copy):
    assert verify_zoo(zoo_copy) == []
    weights = zoo_copy / "weights/shard-00001.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])  # truncated
    curves = zoo_copy / "curves/train-00000.parquet"
    data = bytearray(curves.read_bytes())
    data[100] ^= 0x01  # corrupted, same size
    curves.write_bytes(bytes(data))
    missing = zoo_copy / "trajectories/nopost/d040-r050/outputs/c/0/0/0/0"
    missing.unlink()
    before = snapshot(zoo_copy)
    problems = verify_zoo(zoo_copy)
    assert snapshot(zoo_copy) == before
    assert len(problems) == 3
    assert any(str(weights) in p and "truncated" in p for p in problems)
    assert any(str(curves) in p and "damaged" in p for p in problems)
    assert any(str(missing) in p and "missing" in p for p in problems)
    with pytest.raises(ZooFormatError, match="truncated or damaged"):
        rnnzoo.store.read_shard(weights)
    assert publish([str(zoo_copy), "--repo-id", "org/zoo", "--dry-run"]) == 1
    assert snapshot(zoo_copy) == before


def test_verify_flags_card_configs_that_point_at_nothing(zoo_copy):
    card = zoo_copy / "README.md"
    card.write_text(card.read_text().replace("path: curves/train-*.parquet", "path: training/*.parquet"))
    manifest = json.loads((zoo_copy / "manifest.json").read_text())
    manifest["files"]["README.md"] = {"sha256": hashlib.sha256(card.read_bytes()).hexdigest(),
                                      "bytes": card.stat().st_size}
    write_json_atomic(zoo_copy / "manifest.json", manifest)
    problems = verify_zoo(zoo_copy)
    assert len(problems) == 1 and str(card) in problems[0] and "'training/*.parquet'" in problems[0]
    assert "matches no file" in problems[0]


def test_manifest_of_a_newer_format_is_refused_by_name(zoo_copy, capsys):
    manifest = json.loads((zoo_copy / "manifest.json").read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    write_json_atomic(zoo_copy / "manifest.json", manifest)
    before = snapshot(zoo_copy)
    with pytest.raises(ZooFormatError, match=rf"{re.escape(str(zoo_copy / 'manifest.json'))}.*newer.*upgrade"):
        verify_zoo(zoo_copy)
    with pytest.raises(ZooFormatError, match="newer"):
        rnnzoo.load(source=zoo_copy)
    assert publish([str(zoo_copy), "--repo-id", "org/zoo", "--dry-run"]) == 1
    assert "manifest.json" in capsys.readouterr().err
    assert snapshot(zoo_copy) == before


def test_publish_dry_run_validates_and_lists_without_network(quick_zoo, capsys):
    before = snapshot(quick_zoo)
    assert publish([str(quick_zoo), "--repo-id", "org/rnnzoo-tiny", "--dry-run"]) == 0
    out = capsys.readouterr().out
    manifest = json.loads((quick_zoo / "manifest.json").read_text())
    for rel in list(manifest["files"]) + ["manifest.json"]:
        assert f"    {rel}  (" in out
    plan = upload_plan(quick_zoo, files_per_commit=10)
    assert plan[-1][-1] == "manifest.json" and plan[-1][-2] == "README.md"  # card and manifest go last
    assert sorted(f for commit in plan for f in commit) == sorted(list(manifest["files"]) + ["manifest.json"])
    assert max(len(c) for c in plan[:-1]) <= 10
    assert snapshot(quick_zoo) == before
    with pytest.raises(SystemExit):
        publish([str(quick_zoo), "--repo-id", "not-a-repo-id", "--dry-run"])


def test_citation_cff_validates():
    from cffconvert.cli.create_citation import create_citation

    path = REPO / "CITATION.cff"
    create_citation(str(path), None).validate()
    text = path.read_text()
    assert "2502.17433" in text and "2311.10200" in text
    broken = path.parent / ".CITATION-broken.cff"
    try:  # the validator does reject a bad file
        broken.write_text(re.sub(r"date-released: .*", "date-released: yesterday", text))
        with pytest.raises(Exception):
            create_citation(str(broken), None).validate()
    finally:
        broken.unlink(missing_ok=True)


def test_weight_shards_are_byte_identical_across_processes(tmp_path):
    """safetensors writes its metadata from a hash map in a per-process random order; write_shard sorts it, so a
    regenerated shard has the same sha256 (what bit-for-bit regeneration and resume checksums rely on)."""
    code = ("import sys, torch; from rnnzoo.dynamics import Weights; from rnnzoo.store import write_shard; "
            "g = torch.Generator().manual_seed(0); r = lambda *s: torch.randn(*s, generator=g); "
            "w = Weights(W_in=r(2, 4, 2), b_in=r(2, 4), W_rec=r(2, 4, 4), b_rec=r(2, 4), W_out=r(2, 2, 4), b_out=r(2, 2)); "
            "print(write_shard(sys.argv[1], w, ['a', 'b'], {'job': 0, 'family': 'nopost', 'delay_ms': 20}))")
    shas = {subprocess.run([sys.executable, "-c", code, str(tmp_path / f"s{i}.safetensors")], check=True,
                           capture_output=True, text=True).stdout.strip() for i in range(3)}
    assert len(shas) == 1
    shard = rnnzoo.store.read_shard(tmp_path / "s0.safetensors")
    assert shard.n_networks == 2 and rnnzoo.store.shard_metadata(tmp_path / "s0.safetensors")["ids"] == '["a", "b"]'


# ---- the embedded sample ---------------------------------------------------------------------------------------
def sample_present() -> bool:
    return (SAMPLE_DIR / "manifest.json").is_file()


@pytest.mark.skipif(not sample_present(), reason=SAMPLE_MISSING)
def test_packaged_sample_loads_offline_and_fits_in_30_mb():
    size = sum(p.stat().st_size for p in SAMPLE_DIR.rglob("*") if p.is_file())
    assert size <= 30e6, f"the embedded sample is {size / 1e6:.1f} MB, over 30 MB"
    assert verify_zoo(SAMPLE_DIR) == []
    configs = [c["config_name"] for c in DatasetCard.load(SAMPLE_DIR / "README.md").data.configs]
    assert {"weights", "checkpoints"} <= set(configs), f"the sample's card declares only {configs}"
    assert card_problems(SAMPLE_DIR) == [], ("the sample's card is stale: re-render it with "
                                             "`python generation/card.py rnnzoo/data/sample`")
    zoo = rnnzoo.load(delay=50, mechanism="cycle")
    assert len(zoo) > 0 and set(zoo.metadata["delay_ms"]) == {50} and set(zoo.metadata["mechanism"]) == {"cycle"}
    table = rnnzoo.load().metadata
    assert table["delay_ms"].nunique() >= 3 and table["lr"].nunique() >= 3
    assert {"cycle", "manifold"} <= set(table["mechanism"]) and not table["synthetic"].any()
    net = zoo[0]
    assert float(net.simulate().accuracy[0]) == pytest.approx(net.final_accuracy, abs=1e-6)


def assert_slice_regenerates(root: Path, preset: str, tmp_path: Path) -> None:
    """Retrain a slice of the zoo at `root` with the generation code and compare it bit for bit: the cheapest
    network of the cheapest job by default (a network's training does not depend on its batch companions), the
    whole job's files by sha256 with RNNZOO_SAMPLE_FULL_JOB=1."""
    import torch

    from generation.jobs import curve_paths, job_paths, run_job
    from generation.presets import get_preset
    from generation.train import train_population
    from rnnzoo.store import read_shard

    manifest = json.loads((root / "manifest.json").read_text())
    max_steps = manifest["generation"]["max_steps"]
    job = min(get_preset(preset).jobs(), key=lambda j: j.network_steps * j.task.n_steps)
    paths = job_paths(job.index)
    if os.environ.get("RNNZOO_SAMPLE_FULL_JOB") == "1":
        record = run_job(tmp_path, job, "cpu", max_steps=max_steps,
                         checkpoint_factor=manifest["generation"].get("checkpoint_factor"),
                         checkpoint_first=manifest["generation"].get("checkpoint_first", 1))
        for rel in (paths["shard"], *set(curve_paths(job)), paths["table"], paths["checkpoints"]):
            if rel in manifest["files"] or rel in record["files"]:
                assert record["files"][rel] == manifest["files"][rel]["sha256"], f"{rel} differs from {root}"
        return
    row = min(range(len(job.networks)), key=lambda i: job.networks[i].steps)
    spec = job.networks[row]
    steps = spec.steps if max_steps is None else min(spec.steps, max_steps)
    result = train_population([spec.seed], [spec.lr], [steps], job.task, job.family.alpha, n_units=job.family.n_units)
    stored = read_shard(root / paths["shard"], [row])
    for name, tensor in result.weights.tensors().items():
        assert torch.equal(tensor, stored.tensors()[name]), f"{name} of {spec.id} differs from {root}"
    curves = pd.read_parquet(root / curve_paths(job)[row]).set_index("id").loc[spec.id]
    for name in ("loss", "accuracy", "reliability", "grad_norm"):
        assert np.array_equal(np.asarray(result.curves[name][0], np.float32), np.asarray(curves[name], np.float32))


@pytest.mark.skipif(not sample_present(), reason=SAMPLE_MISSING)
def test_sample_labels_recompute_bit_for_bit(tmp_path):
    """Relabelling the sample's cheapest job from its stored weights and curves (the modal label over the
    reference test's draws, the dynamics diagnostics) writes its networks table byte for byte as stored."""
    import shutil

    from generation.jobs import curve_paths, job_paths, relabel_job
    from generation.presets import get_preset

    manifest = json.loads((SAMPLE_DIR / "manifest.json").read_text())
    job = min(get_preset("sample").jobs(), key=lambda j: j.network_steps * j.task.n_steps)
    paths = job_paths(job.index)
    for rel in (paths["shard"], *set(curve_paths(job)), paths["table"], paths["record"], paths["checkpoints"]):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLE_DIR / rel, tmp_path / rel)
    relabelled = relabel_job(tmp_path, job, "cpu")  # the table is recomputed from the weights and curves
    assert relabelled["files"][paths["table"]] == manifest["files"][paths["table"]]["sha256"]

    # The layout of zoos written before curves were split by seed: one curve file per job. Relabelling rewrites it
    # as the split files, the same bytes as the sample's, and removes it once the record no longer lists it.
    import pyarrow as pa
    import pyarrow.parquet as pq

    from generation.jobs import job_done
    from rnnzoo.store import write_json_atomic, write_table

    splits = sorted(set(curve_paths(job)))
    record = json.loads((tmp_path / paths["record"]).read_text())
    record["files"][paths["curves"]] = write_table(tmp_path / paths["curves"], pa.concat_tables(
        [pq.read_table(tmp_path / rel) for rel in splits]))
    table = pq.read_table(tmp_path / paths["table"])
    table = table.set_column(table.schema.get_field_index("curves"), "curves",
                             pa.array([paths["curves"]] * table.num_rows, pa.string()))
    record["files"][paths["table"]] = write_table(tmp_path / paths["table"], table)
    for rel in splits:
        del record["files"][rel]
        (tmp_path / rel).unlink()
    write_json_atomic(tmp_path / paths["record"], record)
    assert job_done(tmp_path, job)
    migrated = relabel_job(tmp_path, job, "cpu")
    assert migrated["files"][paths["table"]] == manifest["files"][paths["table"]]["sha256"]
    assert not (tmp_path / paths["curves"]).exists() and paths["curves"] not in migrated["files"]
    for rel in splits:
        assert (tmp_path / rel).read_bytes() == (SAMPLE_DIR / rel).read_bytes()
    assert job_done(tmp_path, job)


@pytest.mark.slow
@pytest.mark.skipif(not sample_present(), reason=SAMPLE_MISSING)
def test_sample_regenerates_bit_for_bit(tmp_path):
    assert_slice_regenerates(SAMPLE_DIR, "sample", tmp_path)


@pytest.mark.slow
def test_slice_check_holds_on_a_generated_zoo(quick_zoo, tmp_path):
    """The same check on the quick zoo, so it is exercised even before the sample is generated."""
    assert_slice_regenerates(quick_zoo, "tiny", tmp_path)


@pytest.mark.slow
def test_wheel_carries_the_sample_and_loads_it_offline(quick_zoo, tmp_path):
    """Build the wheel from a copy of the package (with the packaged sample, or the quick zoo standing in for it
    when the sample is not generated yet), install it by unzipping, and load the sample in a fresh interpreter."""
    src = tmp_path / "src"
    shutil.copytree(REPO / "rnnzoo", src / "rnnzoo", ignore=shutil.ignore_patterns("__pycache__", "data"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(SAMPLE_DIR if sample_present() else quick_zoo, src / "rnnzoo/data/sample")
    (src / "rnnzoo/data/sample/run-log.jsonl").write_text('{"out": "/a/local/path"}\n')  # as a regeneration leaves
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(wheels), str(src)], check=True, cwd=tmp_path)
    wheel = next(wheels.glob("rnnzoo-*.whl"))
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(site)
    packed = {p.relative_to(src).as_posix() for p in (src / "rnnzoo/data/sample").rglob("*")
              if p.is_file() and p.name != "run-log.jsonl"}  # the generator's run log stays out of the wheel
    assert packed <= names, f"missing from the wheel: {sorted(packed - names)[:5]}"
    assert not [n for n in names if n.endswith("run-log.jsonl")], "the generator's run log went into the wheel"
    query = "dict(delay=50, mechanism='cycle')" if sample_present() else "dict(delay=40)"
    code = ("import rnnzoo, rnnzoo.verify as s; from rnnzoo.sources import SAMPLE_DIR; "
            f"assert rnnzoo.__file__.startswith({str(site)!r}), rnnzoo.__file__; "
            f"z = rnnzoo.load(**{query}); assert len(z) > 0; assert s.verify_zoo(SAMPLE_DIR) == []; print(len(z))")
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.split()[-1]) > 0
