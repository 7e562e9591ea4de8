"""Nothing wrong comes back silently: real zoo files, damaged or crafted on purpose, must be refused by `load` with
a ZooFormatError (or ChecksumError) that names the file, the problem and the fix.

Each test copies the session's generated tiny zoo and edits it. "Crafted" edits also rewrite the manifest's record
of the edited file (rerecord), as an attacker or a careless tool would, so the check under test is the one that
must catch them, not the file's sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import save_file

import rnnzoo
from rnnzoo.cli import main as cli
from rnnzoo.store import ChecksumError, ZooFormatError, read_shard
from rnnzoo.verify import verify_zoo
from rnnzoo.zoo import Network


@pytest.fixture
def zoo_copy(quick_zoo, tmp_path) -> Path:
    return Path(shutil.copytree(quick_zoo, tmp_path / "zoo"))


def manifest_of(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


def write_manifest(root: Path, manifest: dict) -> None:
    (root / "manifest.json").write_text(json.dumps(manifest))


def rerecord(root: Path, *rels: str) -> None:
    """Make the manifest agree with the files as they are now (a crafted, self-consistent zoo)."""
    manifest = manifest_of(root)
    for rel in rels:
        data = (root / rel).read_bytes()
        manifest["files"][rel] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    write_manifest(root, manifest)


def edit_table(root: Path, edit, record: bool = False) -> None:
    """Rewrite networks.parquet through `edit` (pyarrow Table -> Table); rerecord it when `record`."""
    table = pq.read_table(root / "networks.parquet")
    pq.write_table(edit(table), root / "networks.parquet")
    if record:
        rerecord(root, "networks.parquet")


def set_column(table: pa.Table, name: str, values, type_=None) -> pa.Table:
    index = table.schema.get_field_index(name)
    return table.set_column(index, pa.field(name, type_ or table.schema.field(name).type), pa.array(values, type_ or
                                                                                                    table.schema.field(name).type))


def edit_cell(root: Path, column: str, row: int, value) -> list[str]:
    """Set one cell of networks.parquet (value: a literal, or a function of the column's values) and rerecord the
    table; returns the table's ids, for the messages that name the row."""
    def edit(table: pa.Table) -> pa.Table:
        values = table.column(column).to_pylist()
        values[row] = value(values) if callable(value) else value
        return set_column(table, column, values)

    edit_table(root, edit, record=True)
    return pq.read_table(root / "networks.parquet").column("id").to_pylist()


def first_shard(root: Path) -> str:
    return sorted(rnnzoo.load(root).metadata["shard"])[0]


def rewrite_header(path: Path, mutate) -> None:
    """Rewrite a safetensors file's JSON header through `mutate` (dict -> object), keeping its data bytes."""
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = mutate(json.loads(data[8 : 8 + n]))
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data[8 + n :])


# ---- 1. the networks table is checked against the manifest -------------------------------------------------
def swap_two_networks(table: pa.Table) -> pa.Table:
    """Rows 0 and 1 exchange shard, row and digest: each id then points at the other's weights."""
    for name in ("shard", "row", "weights_sha256"):
        values = table.column(name).to_pylist()
        values[0], values[1] = values[1], values[0]
        table = set_column(table, name, values)
    return table


def test_edited_networks_table_is_refused(zoo_copy):
    edit_table(zoo_copy, swap_two_networks)
    with pytest.raises(ChecksumError, match=r"networks\.parquet is (damaged|truncated|longer).* re-download"):
        rnnzoo.load(zoo_copy)


def test_same_size_damage_to_the_table_is_caught_by_its_sha256(zoo_copy):
    path = zoo_copy / "networks.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=r"networks\.parquet is damaged: sha256 .* differs from the recorded"):
        rnnzoo.load(zoo_copy)


def test_edited_labels_are_refused(zoo_copy):
    edit_table(zoo_copy, lambda t: set_column(t, "mechanism", ["manifold"] * t.num_rows))  # same size or not
    with pytest.raises(ChecksumError, match=r"networks\.parquet"):
        rnnzoo.load(zoo_copy)


def test_edited_networks_table_is_refused_from_the_hub_cache(zoo_copy, tmp_path, monkeypatch):
    from test_hub import REPO, build_hub_cache

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    edit_table(zoo_copy, swap_two_networks)
    build_hub_cache(zoo_copy, tmp_path / "cache")
    with pytest.raises(ChecksumError, match=r"networks\.parquet"):
        rnnzoo.load(REPO)


def test_truncated_or_empty_table_names_the_file(zoo_copy):
    path = zoo_copy / "networks.parquet"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ChecksumError, match=r"networks\.parquet is truncated: 100 bytes"):
        rnnzoo.load(zoo_copy)
    path.write_bytes(b"")
    rerecord(zoo_copy, "networks.parquet")  # even when the manifest agrees, it is no table
    with pytest.raises(ZooFormatError, match=r"networks table .*networks\.parquet cannot be read as Parquet .*"
                                             r"re-download it"):
        rnnzoo.load(zoo_copy)


# ---- 4. duplicate ids --------------------------------------------------------------------------------------
def test_duplicate_ids_are_refused(zoo_copy):
    ids = edit_cell(zoo_copy, "id", 3, lambda ids: ids[2])
    with pytest.raises(ZooFormatError, match=rf"networks\.parquet lists 1 id\(s\) more than once \(first: "
                                             rf"'{ids[2]}'\).*another network's data"):
        rnnzoo.load(zoo_copy)


def test_duplicate_ids_in_stored_trajectories_are_refused(zoo_copy):
    rel = next(r for r in manifest_of(zoo_copy)["files"] if r.startswith("trajectories/") and r.count("/") == 3
               and r.endswith("zarr.json"))
    meta = json.loads((zoo_copy / rel).read_text())
    ids = meta["attributes"]["ids"]
    ids[1] = ids[0]
    (zoo_copy / rel).write_text(json.dumps(meta))
    rerecord(zoo_copy, rel)
    with pytest.raises(ZooFormatError, match=rf"{rel} lists 1 network id\(s\) more than once"):
        rnnzoo.load(zoo_copy).trajectories()[ids[0]]


# ---- 5. paths stay inside the zoo; float32 only ------------------------------------------------------------
def test_paths_outside_the_zoo_are_refused(zoo_copy, tmp_path):
    outside = tmp_path / "outside.safetensors"
    shutil.copy(zoo_copy / first_shard(zoo_copy), outside)
    rel = "../outside.safetensors"
    edit_table(zoo_copy, lambda t: set_column(t, "shard", [rel] * t.num_rows), record=True)
    manifest = manifest_of(zoo_copy)
    manifest["files"][rel] = {"sha256": hashlib.sha256(outside.read_bytes()).hexdigest(),
                              "bytes": outside.stat().st_size}
    write_manifest(zoo_copy, manifest)
    with pytest.raises(ZooFormatError, match=r"manifest\.json names the file '\.\./outside\.safetensors', which is "
                                             r"not a path inside the zoo folder"):
        rnnzoo.load(zoo_copy)
    del manifest["files"][rel]
    write_manifest(zoo_copy, manifest)
    with pytest.raises(ZooFormatError, match=r"networks table .* \(column 'shard'\) names the file "
                                             r"'\.\./outside\.safetensors'"):
        rnnzoo.load(zoo_copy)
    with pytest.raises(ZooFormatError, match="not a path inside the zoo folder"):
        rnnzoo.sources.LocalSource(zoo_copy).path("/etc/passwd")


def test_a_record_without_bytes_is_refused(zoo_copy, capsys):
    manifest = manifest_of(zoo_copy)
    shard = first_shard(zoo_copy)
    del manifest["files"][shard]["bytes"]
    write_manifest(zoo_copy, manifest)
    with pytest.raises(ZooFormatError, match=rf"manifest\.json: the entry of {shard} has no size in bytes"):
        rnnzoo.load(zoo_copy)


def test_float64_shard_is_refused(zoo_copy):
    shard = first_shard(zoo_copy)
    weights = read_shard(zoo_copy / shard)
    meta = rnnzoo.store.shard_metadata(zoo_copy / shard)
    save_file({k: v.to(torch.float64) for k, v in weights.tensors().items()}, str(zoo_copy / shard), metadata=meta)
    rerecord(zoo_copy, shard)
    zoo = rnnzoo.load(zoo_copy)
    rows = np.flatnonzero(zoo.metadata["shard"].to_numpy() == shard)
    for verify in (True, False):
        with pytest.raises(ZooFormatError, match=rf"{Path(shard).name} stores W_in as 'F64'; rnnzoo stores weights "
                                                 r"as float32 \(F32\) only"):
            rnnzoo.load(zoo_copy, verify=verify)[rows.tolist()].weights()
    with pytest.raises(ZooFormatError, match="float32"):
        read_shard(zoo_copy / shard)  # the reader assembly uses
    assert any(shard in p and "stores W_in as 'F64'" in p for p in verify_zoo(zoo_copy))  # the manifest agrees; the
    # copy check parses every shard


# ---- 6. every malformed input is named ---------------------------------------------------------------------
@pytest.mark.parametrize("content, message", [
    (b"[1, 2]", r"manifest\.json holds a JSON list, not an object"),
    (b'{"format_version": 1, "files": {"a": 1}}'[:-1] + b"\xff}", r"manifest\.json is not UTF-8 text"),
    (b'{"format_version": "one", "files": {}}', r"manifest\.json has format version 'one', which is not a whole "
                                                r"number.*re-download"),
    (b'{"format_version": 2, "files": []}', r"manifest\.json lists no files"),
])
def test_malformed_manifest_is_named(zoo_copy, content, message):
    (zoo_copy / "manifest.json").write_bytes(content)
    with pytest.raises(ZooFormatError, match=message):
        rnnzoo.load(zoo_copy)


def test_record_without_sha256_is_a_clear_verify_error(zoo_copy, capsys):
    manifest = manifest_of(zoo_copy)
    del manifest["files"]["networks.parquet"]["sha256"]
    write_manifest(zoo_copy, manifest)
    assert cli(["verify", str(zoo_copy)]) != 0
    err = capsys.readouterr().err
    assert "the entry of networks.parquet has no sha256" in err and "re-download" in err and "manifest.json" in err


@pytest.mark.parametrize("mutate, message", [
    (lambda h: [h], r"header is a JSON list, not an object"),
    (lambda h: {**h, "W_rec": {**h["W_rec"], "data_offsets": [str(x) for x in h["W_rec"]["data_offsets"]]}},
     r"tensor W_rec has data_offsets \['\d+', '\d+'\], not two ordered non-negative whole numbers"),
    (lambda h: {**h, "W_rec": {**h["W_rec"], "shape": [-h["W_rec"]["shape"][0], *h["W_rec"]["shape"][1:]]}},
     r"tensor W_rec has shape \[-\d+, 100, 100\], not a list of non-negative whole numbers"),
    (lambda h: {**h, "b_out": {**h["b_out"], "dtype": "I64"}}, r"stores b_out as 'I64'"),
    (lambda h: {k: v for k, v in h.items() if k != "__metadata__"}, r"carries no format version"),
    (lambda h: {**h, "W_in": {**h["W_in"], "data_offsets": h["W_out"]["data_offsets"]}},  # same size, other bytes
     r"tensor (W_in|W_out) \(bytes \d+-\d+ of the data\) (overlaps another tensor|leaves a gap before it)"),
    (lambda h: {**h, "extra": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}},
     r"holds tensors \['extra'\] besides the six weight tensors"),
])
def test_crafted_shard_headers_are_named(zoo_copy, mutate, message):
    shard = first_shard(zoo_copy)
    rewrite_header(zoo_copy / shard, mutate)
    rerecord(zoo_copy, shard)
    zoo = rnnzoo.load(zoo_copy)
    rows = np.flatnonzero(zoo.metadata["shard"].to_numpy() == shard).tolist()
    with pytest.raises(ZooFormatError, match=rf"{Path(shard).name}.*{message}"):
        zoo[rows].weights()


@pytest.mark.parametrize("column", ["shard", "row", "mechanism", "alpha", "id", "delay_ms"])
def test_table_missing_a_column_is_named(zoo_copy, column):
    edit_table(zoo_copy, lambda t: t.drop_columns([column]), record=True)
    with pytest.raises(ZooFormatError, match=rf"networks\.parquet is not an rnnzoo networks table: column "
                                             rf"'{column}' is missing"):
        rnnzoo.load(zoo_copy)


@pytest.mark.parametrize("column", ["delay_ms", "row"])
def test_nan_in_an_integer_column_is_named(zoo_copy, column):
    def with_nan(table):
        values = table.column(column).to_numpy().astype(float)
        values[5] = np.nan
        return set_column(table, column, values, pa.float64())

    edit_table(zoo_copy, with_nan, record=True)
    with pytest.raises(ZooFormatError, match=rf"column '{column}' holds number \(double\), not integer values"):
        rnnzoo.load(zoo_copy)


def test_null_in_a_key_column_names_the_row(zoo_copy):
    ids = edit_cell(zoo_copy, "row", 5, None)
    with pytest.raises(ZooFormatError, match=rf"column 'row' is empty \(null or NaN\) in 1 row\(s\), first at row 5 "
                                             rf"\(id '{ids[5]}'\)"):
        rnnzoo.load(zoo_copy)


def test_network_weights_errors_are_not_hidden_as_missing_attributes(zoo_copy):
    row = rnnzoo.load(zoo_copy).metadata.iloc[0]
    with pytest.raises(ValueError, match="has neither weights nor a zoo"):
        Network(row).weights

    class Broken(Network):
        @property
        def weights(self):
            raise AttributeError("the real cause")

    with pytest.raises(AttributeError, match="the real cause"):
        Broken(row).weights
    with pytest.raises(AttributeError, match="Network has no attribute 'nope'"):
        Network(row).nope


def test_a_damaged_curve_shard_names_the_file_even_unverified(zoo_copy):
    rel = sorted(rnnzoo.load(zoo_copy).metadata["curves"])[0]
    data = (zoo_copy / rel).read_bytes()
    (zoo_copy / rel).write_bytes(b"\0" * len(data))  # same size: only the sha256 or the reader can tell
    with pytest.raises(ChecksumError, match=Path(rel).name):
        rnnzoo.load(zoo_copy).curves()
    with pytest.raises(ZooFormatError, match=rf"curve shard .*{Path(rel).name} cannot be read"):
        rnnzoo.load(zoo_copy, verify=False).curves()


def test_curves_of_a_repeated_network_and_curves_missing_from_their_shard(zoo_copy):
    zoo = rnnzoo.load(zoo_copy)
    curves = zoo[[1, 1, 0]].curves()
    assert list(curves["id"]) == [zoo.metadata["id"][1], zoo.metadata["id"][1], zoo.metadata["id"][0]]
    rel = zoo.metadata["curves"][0]
    table = pq.read_table(zoo_copy / rel)
    pq.write_table(table.filter(pa.compute.not_equal(table.column("id"), zoo.metadata["id"][0])), zoo_copy / rel)
    rerecord(zoo_copy, rel)
    with pytest.raises(ZooFormatError, match=rf"curve shard .*{Path(rel).name} holds \d+ rows for the \d+ networks "
                                             r"asked \(missing or repeated ids\)"):
        rnnzoo.load(zoo_copy).curves()


def test_rows_beyond_the_shard_are_named_locally_and_by_byte_range(zoo_copy, tmp_path, monkeypatch):
    from fsspec.implementations.local import LocalFileSystem

    from rnnzoo.hub import LazyHubSource
    from test_hub import REPO, build_hub_cache

    edit_table(zoo_copy, lambda t: set_column(t, "row", [999] * t.num_rows), record=True)
    with pytest.raises(ZooFormatError, match=r"points at row 999 of .*shard-\d+\.safetensors, which holds 6 networks"):
        rnnzoo.load(zoo_copy)[[0]].weights()

    class SizedFS(LocalFileSystem):
        def open(self, path, mode="rb", **kwargs):
            fh = super().open(path, mode, **kwargs)
            fh.size = os.path.getsize(path)
            return fh

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    build_hub_cache(zoo_copy, tmp_path / "cache", files=["manifest.json", "networks.parquet"])
    lazy = LazyHubSource(f"hf://datasets/{REPO}", filesystem=SizedFS(), root=zoo_copy)
    with pytest.raises(ZooFormatError, match=r"points at row 999 of .*shard-\d+\.safetensors, which holds 6 networks"):
        rnnzoo.load(lazy)[[0]].weights()


def test_non_utf8_metadata_files_are_named(zoo_copy):
    rel = "trajectories/zarr.json"
    (zoo_copy / rel).write_bytes(b"\xff\xfe{}")
    rerecord(zoo_copy, rel)
    with pytest.raises(ZooFormatError, match=rf"{rel} is not valid JSON"):
        rnnzoo.load(zoo_copy).trajectories()
    (zoo_copy / "README.md").write_bytes(b"---\n\xff\n---\n")
    rerecord(zoo_copy, "README.md")
    assert any("README.md is not UTF-8 text" in p for p in verify_zoo(zoo_copy))


# ---- 7. every copy of a network's numbers agrees with what it derives from --------------------------------------
def edit_view(root: Path, folder: str, edit) -> str:
    """Rewrite the first Parquet file of a view through `edit` (pyarrow Table -> Table) and rerecord it."""
    rel = sorted(p.relative_to(root).as_posix() for p in (root / folder).glob("*.parquet"))[0]
    pq.write_table(edit(pq.read_table(root / rel)), root / rel)
    rerecord(root, rel)
    return rel


def nudge_first_value(table: pa.Table, name: str = "W_rec") -> pa.Table:
    """The same view with one float of `name` in its first row moved by 1.0 (types and shapes kept)."""
    column = table.column(name).combine_chunks()
    values = column.flatten().flatten().to_numpy(zero_copy_only=False).copy()
    values[1] += 1.0
    n = column.type.list_size
    rebuilt = pa.FixedSizeListArray.from_arrays(pa.FixedSizeListArray.from_arrays(pa.array(values, pa.float32()), n), n)
    return table.set_column(table.schema.get_field_index(name), name, rebuilt)


def zeros_float64(table: pa.Table, name: str = "W_rec") -> pa.Table:
    rows = table.num_rows
    n = table.column(name).type.list_size
    flat = pa.array(np.zeros(rows * n * n), pa.float64())
    return table.set_column(table.schema.get_field_index(name), name,
                            pa.FixedSizeListArray.from_arrays(pa.FixedSizeListArray.from_arrays(flat, n), n))


@pytest.mark.parametrize("folder, edit, message", [
    ("weights-parquet", nudge_first_value, r"the weights of 1 row\(s\) differ from the shards they repeat"),
    ("weights-parquet", zeros_float64, r"stores W_rec as fixed_size_list.*double.*not fixed-size lists of float32"),
    ("weights-parquet", lambda t: t.slice(1), r"weights-parquet lacks 1 network\(s\) of the networks table"),
    ("weights-parquet", lambda t: set_column(t, "mechanism", ["cycle"] * t.num_rows),
     r"column 'mechanism' differs from the networks table"),
    ("checkpoints-parquet", nudge_first_value, r"the weights of 1 row\(s\) differ from the shards they repeat"),
    ("networks-by-split", lambda t: set_column(t, "final_accuracy", [0.5] * t.num_rows),
     r"differs from the \w+ rows of .*networks.parquet: this copy was altered"),
    ("networks-by-split", lambda t: t.slice(1), r"differs from the \w+ rows of .*networks.parquet"),
])
def test_altered_parquet_views_fail_verify_and_publish(zoo_copy, folder, edit, message, capsys):
    from generation.publish import validate

    assert verify_zoo(zoo_copy) == []
    if "mechanism" in message and len(set(pq.read_table(sorted((zoo_copy / folder).glob("*.parquet"))[0])
                                          .column("mechanism").to_pylist())) == 1:
        pytest.skip("the first view file holds one mechanism only")
    rel = edit_view(zoo_copy, folder, edit)
    problems = verify_zoo(zoo_copy)
    assert any(rel.split("/")[0] in p and re.search(message, p) for p in problems), problems
    assert any(re.search(message, p) for p in validate(zoo_copy, check_datasets=False))
    assert cli(["verify", str(zoo_copy)]) != 0
    assert "re-download" in capsys.readouterr().out


def test_altered_shard_with_rerecorded_manifest_fails_verify(zoo_copy):
    shard = first_shard(zoo_copy)
    weights = read_shard(zoo_copy / shard)
    tensors = {k: v.clone() for k, v in weights.tensors().items()}
    tensors["W_rec"][0, 0, 1] += 1.0
    save_file(tensors, str(zoo_copy / shard), metadata=rnnzoo.store.shard_metadata(zoo_copy / shard))
    rerecord(zoo_copy, shard)
    problems = verify_zoo(zoo_copy)
    assert any(f"{shard}: 1 of its network(s) do not match the weights sha256" in p for p in problems), problems


def test_curves_and_sizes_are_checked_against_the_table(zoo_copy):
    curve = sorted(c for c in rnnzoo.load(zoo_copy).metadata["curves"] if "/train-" in c)[0]
    table = pq.read_table(zoo_copy / curve)
    pq.write_table(table.slice(1), zoo_copy / curve)
    rerecord(zoo_copy, curve)
    assert any(f"{curve} holds the curves of other networks than the networks table files under it (1 missing"
               in p for p in verify_zoo(zoo_copy))
    pq.write_table(table, zoo_copy / curve)
    rerecord(zoo_copy, curve)
    assert verify_zoo(zoo_copy) == []
    def refile(old: str, new: str) -> None:  # move a curve file, recording the move in the manifest and table
        (zoo_copy / old).rename(zoo_copy / new)
        manifest = manifest_of(zoo_copy)
        manifest["files"][new] = manifest["files"].pop(old)
        write_manifest(zoo_copy, manifest)
        edit_table(zoo_copy, lambda t: set_column(t, "curves", [new if c == old else c for c in
                                                                t.column("curves").to_pylist()]), record=True)

    misfiled = "curves/test-09999.parquet"  # train networks' curves filed under the test split's name
    refile(curve, misfiled)
    assert any(f"{misfiled} is the test split's curve file but the networks table files networks of other splits"
               in p for p in verify_zoo(zoo_copy))
    refile(misfiled, curve)
    assert verify_zoo(zoo_copy) == []
    edit_cell(zoo_copy, "n_units", 0, 50)
    problems = verify_zoo(zoo_copy)
    assert any("holds networks of 100 units, but the networks table says 50" in p for p in problems), problems


@pytest.mark.parametrize("edit", [
    lambda meta: {**meta, "shape": [meta["shape"][0], meta["shape"][1], 250_000, meta["shape"][3]]},  # header only
    lambda meta: {**meta, "data_type": "float64"},
])
def test_trajectory_arrays_are_checked_against_the_task_before_reading(zoo_copy, edit):
    rel = sorted(r for r in manifest_of(zoo_copy)["files"] if r.startswith("trajectories/")
                 and r.endswith("/rates/zarr.json"))[0]
    (zoo_copy / rel).write_text(json.dumps(edit(json.loads((zoo_copy / rel).read_text()))))
    rerecord(zoo_copy, rel)
    zoo = rnnzoo.load(zoo_copy)
    group = rel.split("/")[1:3]
    network = zoo.metadata[[f"{f}/d{int(d):03d}-r{int(r):03d}" == "/".join(group) for f, d, r in
                            zip(zoo.metadata["family"], zoo.metadata["delay_ms"], zoo.metadata["reaction_ms"])]].id.iloc[0]
    with pytest.raises(ZooFormatError, match=r"rates (claims shape|stores float64)"):
        zoo.trajectories()[network]
    assert any(rel.rsplit("/", 1)[0] in p for p in verify_zoo(zoo_copy))


# ---- 8. every input a user types is named, never a traceback ---------------------------------------------------
N = 100
GOOD = dict(W_rec=np.zeros((N, N)), W_in=np.zeros((N, 2)), W_out=np.zeros((2, N)))


@pytest.mark.parametrize("call, message", [
    (lambda net: net.simulate(noise=-1), r"noise must be True .* or a finite standard deviation >= 0, got -1"),
    (lambda net: net.simulate(noise=float("nan")), r"got nan"),
    (lambda net: net.refit(noise=-1, trials=4), r"noise must be a finite standard deviation >= 0, got -1"),
    (lambda net: net.refit(noise=float("nan")), r"noise must be a finite standard deviation >= 0, got nan"),
    (lambda net: rnnzoo.Task(delay_ms=float("inf")), r"delay_ms must be a finite number of milliseconds, got inf"),
    (lambda net: Network.from_weights(**{**GOOD, "W_in": np.zeros((2, N))}),
     r"W_in must be \[100, 2\] .* got \[2, 100\] \(it looks transposed: pass its \.T\)"),
    (lambda net: Network.from_weights(**{**GOOD, "W_in": None}), r"W_in is required"),
    (lambda net: Network.from_weights(**{**GOOD, "W_rec": [[1, 2], [3]]}), r"W_rec is not a rectangular array"),
    (lambda net: Network.from_weights(**{**GOOD, "W_rec": np.zeros((N, N), complex)}), r"W_rec must hold real numbers"),
    (lambda net: Network.from_weights(**GOOD, seed=1.5), r"seed must be a whole number >= 0"),
    (lambda net: Network.from_weights(**GOOD, delay_ms=float("nan")), r"delay_ms must be a finite number"),
    (lambda net: Network.from_weights(**GOOD, foo=1), r"unknown task field\(s\) \['foo'\]"),
])
def test_bad_values_are_named(call, message):
    net = rnnzoo.load(delay=50)[0]
    with pytest.raises(ValueError, match=message):
        call(net)


def test_cli_refit_refuses_bad_noise(capsys):
    net = rnnzoo.load(delay=50)[0]
    for value in ("-1", "nan"):
        assert cli(["refit", net.id, "--noise", value]) == 2
        assert "noise must be a finite standard deviation >= 0" in capsys.readouterr().err


def test_deeply_nested_manifest_is_named(zoo_copy):
    (zoo_copy / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ZooFormatError, match=r"manifest\.json nests its JSON too deeply"):
        rnnzoo.load(zoo_copy)
