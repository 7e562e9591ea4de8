"""The on-disk format of a zoo: safetensors weight shards, Parquet tables, a manifest with checksums.

Layout of a zoo folder (format version FORMAT_VERSION):

    manifest.json                   format version, generation config, code version, sha256 of every file
    networks.parquet                one row per network: hyperparameters, metrics, label, shard and row
    weights/shard-00000.safetensors W_in, b_in, W_rec, b_rec, W_out, b_out stacked [M, ...] (many networks a shard)
    curves/shard-00000.parquet      per-step training curves, one row per network (list columns)
    jobs/job-00000.json|.parquet    per-job completion records (checksums, rows), written last: resume markers
    trajectories/                   zarr v3 rates and outputs on the canonical trials (see rnnzoo.trajectories)
    README.md, figures/             the dataset card (YAML `configs` point at the Parquet tables only) and its figures

Every write goes to a temporary name, is fsynced and renamed, so a killed writer never leaves a file that looks
complete. Nothing here unpickles anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_save

from rnnzoo.dynamics import Weights

FORMAT_VERSION = 2  # 2: the paper's labels exactly (shifted-window curves, its PSD trial), exact_* beside them
MANIFEST = "manifest.json"
CARD = "README.md"
NETWORKS_TABLE = "networks.parquet"
WEIGHTS_DIR = "weights"
CURVES_DIR = "curves"
CHECKPOINTS_DIR = "checkpoints"
JOBS_DIR = "jobs"
ROW_GROUP_BYTES = 100 * 2**20
_UMASK = os.umask(0)
os.umask(_UMASK)


class ZooFormatError(ValueError):
    """A zoo folder or file is missing, damaged, or of a format this rnnzoo cannot read."""


class ChecksumError(ZooFormatError):
    """A file's sha256 differs from the one recorded for it: the file is damaged or was changed."""


NETWORK_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("family", pa.string()),
        ("delay_ms", pa.int32()),
        ("lr", pa.float64()),
        ("seed", pa.int32()),
        ("n_units", pa.int32()),
        ("alpha", pa.float32()),
        ("tau_ms", pa.float32()),
        ("dt_ms", pa.float32()),
        ("cue_ms", pa.float32()),
        ("reaction_ms", pa.float32()),
        ("post_ms", pa.float32()),
        ("weighted_loss", pa.bool_()),
        ("cue_held", pa.bool_()),
        ("steps", pa.int32()),
        ("final_loss", pa.float32()),
        ("final_accuracy", pa.float32()),
        ("final_reliability", pa.float32()),
        ("train_accuracy", pa.float32()),
        ("train_reliability", pa.float32()),
        ("mechanism", pa.string()),
        ("label", pa.int8()),
        ("psd_ratio", pa.float32()),
        ("psd_ratio_flipped", pa.float32()),
        ("psd_ratio_cue0", pa.float32()),
        ("psd_ratio_cue0_flipped", pa.float32()),
        ("label_firm", pa.bool_()),
        ("fluctuation", pa.float32()),
        ("exact_outcome", pa.string()),
        ("train_exact_accuracy", pa.float32()),
        ("train_exact_reliability", pa.float32()),
        # Dynamics diagnostics (rnnzoo.analysis.diagnose); null when a writer does not compute them.
        ("dynamics_label", pa.string()),
        ("period_steps", pa.float32()),
        ("period_ratio", pa.float32()),
        ("amplitude", pa.float32()),
        ("n_slow_points", pa.int16()),
        ("slowest_speed", pa.float32()),
        ("regime_cue0", pa.string()),
        ("regime_cue1", pa.string()),
        ("period_steps_cue1", pa.float32()),
        ("end_separation", pa.float32()),
        ("shard", pa.string()),
        ("row", pa.int32()),
        ("weights_sha256", pa.string()),
        # Training checkpoints (null when the preset keeps none): the steps, 0 = initial weights, last = final;
        # rows checkpoint_row .. checkpoint_row + len(steps) - 1 of checkpoint_shard, in step order.
        ("checkpoint_steps", pa.list_(pa.int32())),
        ("checkpoint_shard", pa.string()),
        ("checkpoint_row", pa.int32()),
        ("curves", pa.string()),
        ("job", pa.int32()),
        ("synthetic", pa.bool_()),
    ]
)

OPTIONAL_COLUMNS = ("weights_sha256", "checkpoint_steps", "checkpoint_shard", "checkpoint_row")  # filled at assembly; null in tables written by older code
DIAGNOSTIC_COLUMNS = ("dynamics_label", "period_steps", "period_ratio", "amplitude", "n_slow_points", "slowest_speed",
                      "regime_cue0", "regime_cue1", "period_steps_cue1", "end_separation")

CURVES_SCHEMA = pa.schema(
    [("id", pa.string())]
    + [(name, pa.list_(pa.float32())) for name in ("loss", "accuracy", "reliability", "grad_norm", "exact_accuracy",
                                                    "exact_reliability")]
)


# ---- atomic files ----------------------------------------------------------------------------------------------
@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync it and rename it onto `path`, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644 & ~_UMASK)
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> str:
    """Write `data` atomically; returns its sha256."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def write_json_atomic(path: str | os.PathLike, obj: dict) -> str:
    return write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def sha256_file(path: str | os.PathLike, chunk: int = 2**22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_file(path: str | os.PathLike, expected_sha256: str) -> None:
    """Raise ChecksumError (naming the file) unless the file exists and has the recorded sha256."""
    path = Path(path)
    if not path.is_file():
        raise ZooFormatError(f"{path} is missing; re-download or regenerate the zoo (rnnzoo verify lists all files)")
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise ChecksumError(
            f"{path} is damaged: sha256 {actual[:16]}... differs from the recorded {expected_sha256[:16]}...; "
            "delete it and re-download it (or rerun generation, which redoes that job)"
        )


# ---- weight shards ---------------------------------------------------------------------------------------------
def write_shard(path: str | os.PathLike, weights: Weights, ids: Sequence[str], extra: dict | None = None) -> str:
    """Write M networks' stacked weights to one safetensors file (atomically); returns its sha256."""
    if len(ids) != weights.n_networks:
        raise ValueError(f"{len(ids)} ids for {weights.n_networks} networks")
    metadata = {"format": "pt", "format_version": str(FORMAT_VERSION), "ids": json.dumps(list(ids))}
    metadata.update({k: str(v) for k, v in (extra or {}).items()})
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in weights.tensors().items()}
    return write_bytes_atomic(path, _sorted_metadata(safetensors_save(tensors, metadata=metadata)))


def network_digests(tensors: dict[str, np.ndarray]) -> list[str]:
    """sha256 of each network's weights: the float32 bytes of its rows of W_in, b_in, W_rec, b_rec, W_out, b_out,
    in that order. Stored per network in the table, so a loader checks exactly the networks it reads."""
    arrays = [np.ascontiguousarray(np.asarray(tensors[name], dtype="<f4")) for name in Weights.names()]
    digests = []
    for m in range(arrays[0].shape[0]):
        h = hashlib.sha256()
        for array in arrays:
            h.update(array[m].tobytes())
        digests.append(h.hexdigest())
    return digests


def _sorted_metadata(data: bytes) -> bytes:
    """The same safetensors bytes with `__metadata__` keys in sorted order: safetensors serialises them from a hash
    map in a random order per process, which would make identical shards differ byte for byte."""
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    header["__metadata__"] = dict(sorted(header.get("__metadata__", {}).items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    if len(text) > n:  # never expected (same content, other order); keep what safetensors wrote
        return data
    return data[:8] + text + b" " * (n - len(text)) + data[8 + n :]


def shard_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The `__metadata__` of a shard, with its format version checked."""
    with _open_shard(path) as f:
        meta = f.metadata() or {}
    check_format_version(meta.get("format_version"), path)
    return meta


def read_shard(path: str | os.PathLike, rows: Sequence[int] | None = None) -> Weights:
    """The weights of the networks at `rows` of a shard (all if None), reading only the runs of rows asked for."""
    with _open_shard(path) as f:
        check_format_version((f.metadata() or {}).get("format_version"), path)
        names = Weights.names()
        missing = [n for n in names if n not in f.keys()]
        if missing:
            raise ZooFormatError(f"{path} lacks tensors {missing}; it is not an rnnzoo weight shard")
        if rows is None:
            return Weights(**{n: f.get_tensor(n) for n in names})
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        runs = np.split(sorted_rows, np.flatnonzero(np.diff(sorted_rows) != 1) + 1) if rows.size else []
        parts = {n: [] for n in names}
        for run in runs:
            for n in names:
                parts[n].append(f.get_slice(n)[int(run[0]) : int(run[-1]) + 1])
        stacked = {n: torch.cat(parts[n]) if parts[n] else f.get_slice(n)[0:0] for n in names}
        inverse = torch.as_tensor(np.argsort(order, kind="stable"))
        return Weights(**{n: v[inverse] for n, v in stacked.items()})


@contextmanager
def _open_shard(path: str | os.PathLike):
    path = Path(path)
    if not path.is_file():
        raise ZooFormatError(f"weight shard {path} is missing; re-download it or rerun generation for its job")
    try:
        handle = safe_open(str(path), framework="pt")
    except Exception as exc:  # safetensors raises its own error types for truncated or garbled headers
        raise ZooFormatError(f"weight shard {path} cannot be read ({exc}); it is truncated or damaged: "
                             "delete it and re-download it or regenerate its job") from exc
    with handle as f:
        yield f


# ---- fast partial reads: the header parsed by hand, the data memory-mapped --------------------------------------
_SAFETENSORS_DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16}


def _damaged(path: str | os.PathLike, why: str) -> ZooFormatError:
    return ZooFormatError(f"weight shard {path} cannot be read ({why}); it is truncated or damaged: delete it "
                          "and re-download it or regenerate its job")


def shard_layout(fh: BinaryIO, size: int, path: str | os.PathLike) -> dict[str, tuple[np.dtype, tuple[int, ...], int]]:
    """(dtype, shape, absolute byte offset) of every weight tensor of a safetensors shard, from its header.

    Reads only the header (8-byte length, JSON) from the open binary file `fh` of `size` bytes; checks the format
    version and that every tensor fits the file, so a damaged or foreign file is reported naming `path`.
    """
    head = fh.read(8)
    n = int.from_bytes(head, "little") if len(head) == 8 else -1
    if not 0 < n <= size - 8:
        raise _damaged(path, "bad header length")
    try:
        header = json.loads(fh.read(n))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _damaged(path, f"header is not JSON: {exc}") from exc
    check_format_version((header.pop("__metadata__", None) or {}).get("format_version"), path)
    missing = [name for name in Weights.names() if name not in header]
    if missing:
        raise ZooFormatError(f"{path} lacks tensors {missing}; it is not an rnnzoo weight shard")
    layout = {}
    for name in Weights.names():
        info = header[name]
        dtype = _SAFETENSORS_DTYPES.get(info.get("dtype"))
        begin, end = (8 + n + int(x) for x in info["data_offsets"])
        shape = tuple(int(x) for x in info["shape"])
        if dtype is None or end > size or end - begin != int(np.prod(shape)) * np.dtype(dtype).itemsize:
            raise _damaged(path, f"tensor {name} has dtype {info.get('dtype')} or offsets that do not fit the file")
        layout[name] = (np.dtype(dtype), shape, begin)
    return layout


def shard_arrays(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a weight shard as read-only arrays over a memory map: nothing is read until indexed, so
    picking rows is one numpy gather per tensor."""
    if not path.is_file():
        raise ZooFormatError(f"weight shard {path} is missing; re-download it or rerun generation for its job")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        layout = shard_layout(fh, size, path)
    data = np.memmap(path, dtype=np.uint8, mode="r")
    return {name: data[begin : begin + int(np.prod(shape)) * dtype.itemsize].view(dtype).reshape(shape)
            for name, (dtype, shape, begin) in layout.items()}


def check_format_version(version: str | int | None, where: str | os.PathLike) -> None:
    if version is None:
        raise ZooFormatError(f"{where} carries no format version; it was not written by rnnzoo")
    if int(version) > FORMAT_VERSION:
        raise ZooFormatError(
            f"{where} has format version {version}, newer than this rnnzoo reads ({FORMAT_VERSION}); "
            "upgrade rnnzoo: pull its repository and reinstall it (`pip install -e .` in the clone)"
        )
    if int(version) < FORMAT_VERSION:
        raise ZooFormatError(
            f"{where} has format version {version}, older than this rnnzoo reads ({FORMAT_VERSION}): its labels are "
            "not the paper's (version 2 scores and labels as the paper's code does); regenerate it with "
            "`python generation/run.py --preset NAME --out NEW_DIR`, or read it with rnnzoo 0.1"
        )


# ---- tables ----------------------------------------------------------------------------------------------------
def write_table(path: str | os.PathLike, table: pa.Table) -> str:
    """Write a Parquet table atomically with row groups of at most about 100 MB; returns its sha256."""
    rows_per_group = max(1, int(ROW_GROUP_BYTES / max(1, table.nbytes / max(1, table.num_rows))))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, row_group_size=rows_per_group, compression="zstd")
    return sha256_file(path)


def networks_table(rows: dict[str, Sequence] | "pa.Table") -> pa.Table:
    """Rows as a pyarrow table with the explicit networks schema (float32 stays float32)."""
    n = rows.num_rows if isinstance(rows, pa.Table) else len(rows["id"])
    missing = {name: pa.nulls(n, NETWORK_SCHEMA.field(name).type) for name in DIAGNOSTIC_COLUMNS + OPTIONAL_COLUMNS
               if name not in (rows.column_names if isinstance(rows, pa.Table) else rows)}
    if isinstance(rows, pa.Table):
        for name, column in missing.items():
            rows = rows.append_column(name, column)
        return rows.select(NETWORK_SCHEMA.names).cast(NETWORK_SCHEMA)
    return pa.table({name: missing[name] if name in missing else pa.array(rows[name], type=NETWORK_SCHEMA.field(name).type)
                     for name in NETWORK_SCHEMA.names})


def curves_table(ids: Sequence[str], curves: dict[str, Sequence[np.ndarray]]) -> pa.Table:
    columns = {"id": pa.array(list(ids), pa.string())}
    for name in CURVES_SCHEMA.names[1:]:
        columns[name] = pa.array([np.asarray(c, np.float32) for c in curves[name]], pa.list_(pa.float32()))
    return pa.table(columns, schema=CURVES_SCHEMA)


# ---- manifest --------------------------------------------------------------------------------------------------
def file_records(root: str | os.PathLike, exclude: Sequence[str] = (MANIFEST,)) -> dict[str, dict]:
    """sha256 and size of every file under root (relative POSIX paths), skipping temporary files."""
    root = Path(root)
    records = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel in exclude or path.name.startswith(".") or "/." in rel:
            continue
        records[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return records


def write_manifest(root: str | os.PathLike, info: dict) -> dict:
    """Write manifest.json: format version, `info` (config, code version, counts) and every file's sha256."""
    manifest = {"format_version": FORMAT_VERSION, **info, "files": file_records(root)}
    write_json_atomic(Path(root) / MANIFEST, manifest)
    return manifest


def read_manifest(root: str | os.PathLike) -> dict:
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise ZooFormatError(
            f"{path} is missing: {root} is not a finished zoo folder "
            "(finish it with `python generation/run.py --preset NAME --out DIR`, which resumes)"
        )
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ZooFormatError(f"{path} is not valid JSON ({exc}); re-download it") from exc
    check_format_version(manifest.get("format_version"), path)
    return manifest


def verify_zoo(root: str | os.PathLike) -> list[str]:
    """Check every file recorded in the manifest and the card's configs; returns the problems found (empty when
    all is well). Raises ZooFormatError when the manifest itself is missing, unreadable or of a newer format.
    Reads only: nothing is written or repaired."""
    root = Path(root)
    manifest = read_manifest(root)
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise ZooFormatError(f"{root / MANIFEST} lists no files; it is damaged: re-download it or rerun assembly")
    problems = []
    for rel, record in files.items():
        path = root / rel
        if path.is_file() and "bytes" in record and path.stat().st_size != record["bytes"]:
            size = path.stat().st_size
            what = "truncated" if size < record["bytes"] else "longer than recorded"
            problems.append(f"{path} is {what}: {size} bytes instead of the recorded {record['bytes']}; delete it "
                            "and re-download it (or rerun generation, which redoes that job)")
            continue
        try:
            verify_file(path, record["sha256"])
        except ZooFormatError as exc:
            problems.append(str(exc))
    if CARD in files and (root / CARD).is_file():
        problems.extend(card_config_problems(root, files))
    return problems


# ---- dataset card ----------------------------------------------------------------------------------------------
# Read with the Hub's own classes: huggingface_hub's DatasetCard parses the front matter, and `datasets` reads the
# `configs` and resolves their data_files patterns exactly as the Hub's viewer and load_dataset do.
def read_card(path: str | os.PathLike):
    """The dataset card at `path` as a huggingface_hub DatasetCard (front matter in `.data`, body in `.text`)."""
    import yaml
    from huggingface_hub import DatasetCard

    path = Path(path)
    if not path.is_file():
        raise ZooFormatError(f"dataset card {path} is missing; render it with `python generation/card.py DIR`")
    try:
        card = DatasetCard(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, ValueError) as exc:
        raise ZooFormatError(f"{path} has invalid YAML front matter ({exc}); re-render the card") from exc
    if not card.data.to_dict():
        raise ZooFormatError(f"{path} has no YAML front matter (between '---' lines); re-render the card")
    return card


def read_card_metadata(path: str | os.PathLike) -> dict:
    """The YAML front matter of a dataset card (README.md) as a dict (huggingface_hub's DatasetCardData)."""
    return read_card(path).data.to_dict()


def card_data_files(meta: dict) -> dict[str, list[str]]:
    """{config name: its data_files patterns} from a card's front matter, as `datasets` reads them."""
    from datasets.data_files import sanitize_patterns
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    try:
        configs = MetadataConfigs.from_dataset_card_data(DatasetCardData(**meta))
    except (ValueError, TypeError) as exc:  # `datasets` refuses configs it cannot read
        raise ZooFormatError(f"the card's `configs` cannot be read ({exc}); re-render the card with "
                             "`python generation/card.py DIR`") from exc
    return {name: [p for split in sanitize_patterns(config.get("data_files") or []).values() for p in split]
            for name, config in configs.items()}


def card_config_files(root: str | os.PathLike, pattern: str) -> list[str]:
    """The files of the zoo at `root` (relative POSIX paths) that one data_files pattern selects, resolved by
    `datasets` as the Hub resolves it ('*' stays within a folder, '**' crosses folders); empty when none."""
    from datasets.data_files import resolve_pattern

    root = Path(root).resolve()
    try:
        found = resolve_pattern(pattern, base_path=str(root))
    except FileNotFoundError:
        return []
    return sorted(Path(f).resolve().relative_to(root).as_posix() for f in found)


def card_config_problems(root: str | os.PathLike, files: Sequence[str], card: str | os.PathLike | None = None
                         ) -> list[str]:
    """Problems with the card's `configs` (the card at root/README.md, or `card`): none declared, a pattern that
    selects no file of the zoo, one that selects a file other than Parquet (the viewer and `datasets` must read
    only the tables), or one that selects a file the manifest does not list."""
    card = Path(card) if card is not None else Path(root) / CARD
    try:
        configs = card_data_files(read_card_metadata(card))
    except ZooFormatError as exc:
        return [str(exc) if str(card) in str(exc) else f"{card}: {exc}"]
    if not configs:
        return [f"{card} declares no `configs`; re-render it with `python generation/card.py {root}`"]
    listed = set(files)
    problems = []
    for name, patterns in configs.items():
        if not patterns:
            problems.append(f"{card}: config {name!r} lists no data_files")
        for pattern in patterns:
            matched = card_config_files(root, pattern)
            if not matched:
                problems.append(f"{card}: config {name!r} points at {pattern!r}, which matches no file of the zoo; "
                                f"re-render the card with `python generation/card.py {root}`")
            elif any(not f.endswith(".parquet") for f in matched):
                problems.append(f"{card}: config {name!r} pattern {pattern!r} matches files other than Parquet")
            else:
                problems.extend(f"{card}: config {name!r} points at {Path(root) / f}, which the manifest does not "
                                f"list; re-render the card and manifest with `python generation/card.py {root}`"
                                for f in matched if f not in listed)
    return problems
