"""Hub sources through the real huggingface_hub, offline, against a cache laid out as huggingface_hub lays it out.

The Hub cannot be reached from the test machines, so each test builds the documented cache of a dataset repo
(datasets--ORG--NAME/{blobs/<sha256>, snapshots/<commit>/<path> -> blob, refs/main}) from a zoo generated for real,
points HF_HUB_CACHE at it and sets HF_HUB_OFFLINE=1. Nothing is downloaded and no file format is mocked.
"""

import hashlib
import os
import shutil
from pathlib import Path

import pytest
import torch

import rnnzoo
from rnnzoo.hub import HubFileUnavailable, HubSource, parse_hub_address

REPO = "rnnzoo-test/tiny-zoo"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
METADATA = ("manifest.json", "networks.parquet")


def build_hub_cache(zoo: Path, cache: Path, files=None, commit: str = COMMIT) -> Path:
    """Put `files` of a zoo folder (all by default) into a huggingface_hub cache as commit `commit` of REPO."""
    repo_dir = cache / ("datasets--" + REPO.replace("/", "--"))
    snapshot = repo_dir / "snapshots" / commit
    for rel in files or [p.relative_to(zoo).as_posix() for p in zoo.rglob("*") if p.is_file()]:
        data = (zoo / rel).read_bytes()
        blob = repo_dir / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snapshot / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit)
    return snapshot


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def shards_of(zoo: Path, **query) -> list[str]:
    return sorted(set(rnnzoo.load(zoo, **query).metadata["shard"]))


def test_hub_zoo_loads_from_the_cache_like_the_local_folder(quick_zoo, offline_cache):
    build_hub_cache(quick_zoo, offline_cache)
    hub = rnnzoo.load(REPO, delay=40)
    local = rnnzoo.load(quick_zoo, delay=40)
    assert isinstance(hub.source, HubSource) and hub.source.commit == COMMIT
    assert list(hub.metadata["id"]) == list(local.metadata["id"])
    assert torch.equal(hub.weights().W_rec, local.weights().W_rec)
    assert list(hub.curves()["id"]) == list(local.metadata["id"])
    net = hub[0]
    assert float(net.simulate().accuracy[0]) == pytest.approx(net.final_accuracy, abs=1e-6)
    assert str(hub.source.path("manifest.json")).startswith(str(offline_cache))  # the standard cache, not a copy


def test_only_the_shards_a_query_needs_are_read(quick_zoo, offline_cache):
    needed = shards_of(quick_zoo, delay=40)
    other = sorted(set(shards_of(quick_zoo)) - set(needed))
    assert needed and other
    curves = sorted(set(rnnzoo.load(quick_zoo, delay=40).metadata["curves"]))
    build_hub_cache(quick_zoo, offline_cache, files=[*METADATA, *needed, *curves])
    zoo = rnnzoo.load(REPO, delay=40)
    assert zoo.weights().W_rec.shape[0] == len(zoo)  # served by the cached shard alone
    with pytest.raises(HubFileUnavailable, match=rf"HF_HUB_OFFLINE is set and the Hugging Face cache at .* lacks "
                                                 rf"{other[0]} of dataset {REPO}"):
        rnnzoo.load(REPO, delay=20).weights()


def test_offline_cache_miss_of_the_metadata_names_the_file(quick_zoo, offline_cache):
    build_hub_cache(quick_zoo, offline_cache, files=["manifest.json"])
    with pytest.raises(HubFileUnavailable, match=r"lacks networks.parquet of dataset rnnzoo-test/tiny-zoo"):
        rnnzoo.load(REPO)
    with pytest.raises(HubFileUnavailable, match=r"lacks manifest.json of dataset other-org/absent"):
        rnnzoo.load("other-org/absent")


def test_pinned_revision_reads_that_commit(quick_zoo, offline_cache, tmp_path):
    build_hub_cache(quick_zoo, offline_cache)
    older = shutil.copytree(quick_zoo, tmp_path / "older")
    table = rnnzoo.load(older).metadata.iloc[:6]  # an older commit held only the first six networks
    table.to_parquet(older / "networks.parquet")
    manifest = rnnzoo.store.read_manifest(older)  # that commit's own manifest records its table
    rnnzoo.store.write_manifest(older, {k: v for k, v in manifest.items() if k not in ("files", "format_version")})
    other_commit = "f" * 40
    build_hub_cache(older, offline_cache, files=list(METADATA), commit=other_commit)
    (offline_cache / ("datasets--" + REPO.replace("/", "--")) / "refs" / "main").write_text(COMMIT)
    assert len(rnnzoo.load(REPO)) == 12
    assert len(rnnzoo.load(REPO, revision=other_commit)) == 6
    assert rnnzoo.load(REPO, revision=other_commit).source.commit == other_commit
    with pytest.raises(HubFileUnavailable, match=f"lacks manifest.json .*revision {'e' * 40}"):
        rnnzoo.load(REPO, revision="e" * 40)


def test_hf_paths_resolve_through_the_same_cache(quick_zoo, offline_cache):
    build_hub_cache(quick_zoo, offline_cache)
    assert parse_hub_address("hf://datasets/ORG/NAME@v1/sub") == ("ORG/NAME", "v1", "sub")
    assert parse_hub_address("hf://datasets/ORG/NAME") == ("ORG/NAME", None, "")
    with pytest.raises(ValueError, match="not a Hub dataset path"):
        parse_hub_address("hf://datasets/ORG")
    zoo = rnnzoo.load(f"hf://datasets/{REPO}@{COMMIT}", seed=0)
    assert len(zoo) == 4 and zoo.source.commit == COMMIT
    assert torch.equal(zoo.weights().W_rec, rnnzoo.load(quick_zoo, seed=0).weights().W_rec)


def test_damaged_blob_in_the_cache_is_a_checksum_error(quick_zoo, offline_cache):
    snapshot = build_hub_cache(quick_zoo, offline_cache)
    rel = shards_of(quick_zoo)[0]
    blob = (snapshot / rel).resolve()
    data = bytearray(blob.read_bytes())
    data[-3] ^= 0x55
    blob.write_bytes(bytes(data))
    with pytest.raises(rnnzoo.ChecksumError, match=r"shard-\d+\.safetensors .*recorded sha256: the shard is damaged"):
        rnnzoo.load(REPO).weights()


def test_hf_paths_read_only_the_asked_byte_ranges(quick_zoo, offline_cache):
    """LazyHubSource's ranged reads through a real fsspec filesystem (HfFileSystem's interface; the local one
    here because the Hub is unreachable): only the metadata is in the cache, the weights come by byte range."""
    from fsspec.implementations.local import LocalFileSystem

    from rnnzoo.hub import LazyHubSource

    build_hub_cache(quick_zoo, offline_cache, files=list(METADATA))

    class CountingFS(LocalFileSystem):
        read_bytes_total = 0

        def open(self, path, mode="rb", **kwargs):
            fh = super().open(path, mode, **kwargs)
            fh.size = os.path.getsize(path)
            read = fh.read

            def counted(n=-1):
                data = read(n)
                CountingFS.read_bytes_total += len(data)
                return data

            fh.read = counted
            return fh

    source = LazyHubSource(f"hf://datasets/{REPO}", filesystem=CountingFS(), root=quick_zoo)
    assert source.lazy
    zoo = rnnzoo.load(source)[[10, 1, 7]]
    local = rnnzoo.load(quick_zoo)[[10, 1, 7]]
    weights = zoo.weights()
    for name, tensor in local.weights().tensors().items():
        assert torch.equal(getattr(weights, name), tensor), name
    shard_bytes = (quick_zoo / zoo.metadata["shard"].iloc[0]).stat().st_size
    assert CountingFS.read_bytes_total < shard_bytes  # three networks from two shards: less than one whole shard
    assert not list(offline_cache.rglob("*.safetensors"))  # nothing went through the cache


def test_a_snapshots_folder_in_the_cache_path_does_not_break_pinning(quick_zoo, tmp_path, monkeypatch):
    cache = tmp_path / "snapshots" / "hf-cache"  # a folder named like the cache's own 'snapshots' above it
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    build_hub_cache(quick_zoo, cache)
    zoo = rnnzoo.load(REPO, delay=40)
    assert zoo.source.commit == COMMIT
    assert torch.equal(zoo.weights().W_rec, rnnzoo.load(quick_zoo, delay=40).weights().W_rec)


def test_a_mistyped_local_path_is_named_as_one(quick_zoo, offline_cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(quick_zoo, tmp_path / "zoos" / "tiny-zoo")
    with pytest.raises(FileNotFoundError, match=r"zoos/tiny is not a local zoo folder: .*zoos exists but holds no "
                                                r"'tiny'; did you mean zoos/tiny-zoo\? \(write \./zoos/tiny to mean a "
                                                r"local folder only\)$"):
        rnnzoo.load("zoos/tiny")  # a typo of a zoo folder here: named at once, the Hub never asked
    with pytest.raises(FileNotFoundError, match=r"zoo folder \./zoos/tiny does not exist"):
        rnnzoo.load("./zoos/tiny")
    assert len(rnnzoo.load("zoos/tiny-zoo")) == 12
    with pytest.raises(HubFileUnavailable) as info:  # an address whose first part is no folder here: Hub only
        rnnzoo.load("other-org/absent")
    assert "not a local zoo folder" not in str(info.value)


def test_a_two_part_path_that_is_nowhere_says_so_beside_the_hub_error(tmp_path, monkeypatch):
    """'zoos/tiny' where neither zoos/ nor the dataset exists: the error names the missing local folder too."""
    from rnnzoo.sources import local_lookalike

    monkeypatch.chdir(tmp_path)
    assert "no local folder" in local_lookalike("zoos/tiny") and "./zoos/tiny" in local_lookalike("zoos/tiny")
    (tmp_path / "zoos").mkdir()
    (tmp_path / "zoos" / "tiny-zoo").mkdir()
    assert "did you mean zoos/tiny-zoo" in local_lookalike("zoos/tiny")
    assert local_lookalike("zoos/tiny-zoo") is None


@pytest.fixture
def unreachable_hub(tmp_path, monkeypatch):
    """A cache, HF_HUB_OFFLINE unset, and the Hub's address pointing at a closed local port: the network is down."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    return cache


@pytest.mark.parametrize("address", [REPO, f"hf://datasets/{REPO}"])
def test_a_complete_cache_works_without_a_network_and_without_hf_hub_offline(quick_zoo, unreachable_hub, address,
                                                                            capsys, tmp_path):
    from rnnzoo.cli import main as cli

    build_hub_cache(quick_zoo, unreachable_hub)
    local = rnnzoo.load(quick_zoo, delay=40)
    zoo = rnnzoo.load(address, delay=40)
    assert torch.equal(zoo.weights().W_rec, local.weights().W_rec)
    assert len(zoo.trajectories()[0].rates)
    out = tmp_path / "show.png"
    assert cli(["show", local.metadata.id.iloc[0], "--source", address, "--out", str(out)]) == 0
    assert "Traceback" not in capsys.readouterr().err and out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("address", [REPO, f"hf://datasets/{REPO}"])
def test_a_file_missing_from_the_cache_without_a_network_is_named(quick_zoo, unreachable_hub, address):
    snapshot = build_hub_cache(quick_zoo, unreachable_hub)
    zoo = rnnzoo.load(address, delay=40)
    shard = sorted(set(zoo.metadata["shard"]))[0]
    (snapshot / shard).unlink()
    with pytest.raises(HubFileUnavailable, match=rf"the Hub cannot be reached and the Hugging Face cache at .* lacks "
                                                 rf"{shard} of dataset {REPO}.*Fetch it once while online"):
        rnnzoo.load(address, delay=40).weights()


def test_a_cache_link_that_leads_out_of_the_cache_is_refused(quick_zoo, offline_cache, tmp_path):
    from rnnzoo.folder import LinkOutOfFolder

    snapshot = build_hub_cache(quick_zoo, offline_cache)
    shard = sorted(p.relative_to(snapshot).as_posix() for p in (snapshot / "weights").glob("*.safetensors"))[0]
    outside = tmp_path / "elsewhere.safetensors"
    outside.write_bytes((snapshot / shard).read_bytes())  # the same bytes: only the link check can tell
    (snapshot / shard).unlink()
    (snapshot / shard).symlink_to(outside)
    zoo = rnnzoo.load(REPO)
    rows = [i for i, s in enumerate(zoo.metadata["shard"]) if s == shard]
    with pytest.raises(LinkOutOfFolder, match=r"is a symbolic link to .*elsewhere\.safetensors, outside"):
        zoo[rows].weights()
