"""The on-disk format of a zoo: safetensors weight shards, Parquet tables, a manifest with checksums.

Layout of a zoo folder (format version FORMAT_VERSION):

    manifest.json                   format version, generation config, code version, sha256 of every file
    networks.parquet                one row per network: hyperparameters, metrics, label, shard and row
    weights/shard-00000.safetensors W_in, b_in, W_rec, b_rec, W_out, b_out stacked [M, ...] (many networks a shard)
    weights-parquet/SPLIT-00000.parquet  the same weights as Parquet rows per split (rnnzoo.views; config `weights`)
    checkpoints-parquet/SPLIT-00000.parquet  the training checkpoints as Parquet rows (config `checkpoints`)
    curves/shard-00000.parquet      per-step training curves, one row per network (list columns)
    jobs/job-00000.json|.parquet    per-job completion records (checksums, rows), written last: resume markers
    trajectories/                   zarr v3 rates and outputs on the canonical trials (see rnnzoo.trajectories)
    README.md, figures/             the dataset card (YAML `configs` point at the Parquet tables only) and its figures

Every write goes to a temporary name ('.NAME.RANDOM.tmp', see rnnzoo.leftovers), is fsynced and renamed, so a killed
writer never leaves a file that looks complete; what it leaves is hidden, never recorded, flagged by verify_zoo
and removed by the next generation run (rnnzoo.leftovers). Wall-clock times and local paths go to RUN_LOG, never
into a recorded file, so a resumed run records the same bytes as an uninterrupted one. Nothing here unpickles
anything.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
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
WEIGHTS_VIEW_DIR = "weights-parquet"  # the weights as Parquet, one file set per split (the card's `weights` config)
NETWORKS_VIEW_DIR = "networks-by-split"  # the networks table again, one file per split (the card's `networks` config)
CHECKPOINTS_VIEW_DIR = "checkpoints-parquet"  # the checkpoints as Parquet (the card's `checkpoints` config)
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
        ("target_held", pa.bool_()),
        ("readout", pa.string()),
        ("steps", pa.int32()),
        ("early_stopped", pa.bool_()),
        ("final_loss", pa.float32()),
        ("final_accuracy", pa.float32()),
        ("final_reliability", pa.float32()),
        ("train_accuracy", pa.float32()),
        ("train_reliability", pa.float32()),
        ("mechanism", pa.string()),
        ("label", pa.int8()),
        ("mechanism_share", pa.float32()),
        ("dynamics_agrees", pa.bool_()),
        ("psd_ratio", pa.float32()),
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
        # Fixed benchmark split by seed (rnnzoo.splits), filled at assembly; null in job tables.
        ("split", pa.string()),
    ]
)

OPTIONAL_COLUMNS = ("weights_sha256", "checkpoint_steps", "checkpoint_shard", "checkpoint_row", "split")  # filled at assembly; null in tables written by older code
# The no-memory control's protocol columns (target over the whole trial, linear readout, early stop); null in tables
# written before they existed, read as the memory families' defaults (False, 'sigmoid', False) by rnnzoo.Task.from_row.
PROTOCOL_COLUMNS = ("target_held", "readout", "early_stopped")
# The paper's label and its evidence (rnnzoo.labels.mechanism_scores, rnnzoo.analysis.diagnose): mechanism and its
# class code, the share of the reference test's draws behind it and whether rnnzoo's dynamics label agrees (both
# null unless learned), the median PSD ratio and output fluctuation over the draws.
LABEL_COLUMNS = ("mechanism", "label", "mechanism_share", "dynamics_agrees", "psd_ratio", "fluctuation")
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
        _fsync_dir(path.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def fsync_tree(root: str | os.PathLike) -> None:
    """fsync every file and folder under root, and root itself: a folder written in place (zarr) is durable
    before it is renamed into the zoo, as every single file is by atomic_path."""
    for folder, _, names in os.walk(root, topdown=False):
        for name in names:
            with open(os.path.join(folder, name), "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(folder)


def _fsync_dir(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def append_run_log(root: str | os.PathLike, entry: dict) -> None:
    """Append one JSON line to the zoo's run log (RUN_LOG): what differs from run to run (wall-clock times, local
    paths, hosts) and so must stay out of the manifest, the card and the figures. Never listed or published."""
    path = Path(root) / RUN_LOG
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, sort_keys=True, default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


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
        slices = {n: f.get_slice(n) for n in names}
        for n, part in slices.items():
            if part.get_dtype() != WEIGHT_DTYPE:
                raise ZooFormatError(f"weight shard {path} stores {n} as {part.get_dtype()!r}; rnnzoo stores weights "
                                     f"as float32 ({WEIGHT_DTYPE}) only: re-download it or regenerate its job")
        _check_shapes({n: tuple(part.get_shape()) for n, part in slices.items()}, path)
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
MAX_HEADER_BYTES = 100_000_000  # the safetensors library's own limit on a header
WEIGHT_DTYPE = "F32"  # the only dtype a weight shard may hold: the digests and the simulator are float32


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _tensor_entry(info: object, name: str, path: str | os.PathLike) -> tuple[np.dtype, tuple[int, ...], tuple[int, int]]:
    """(dtype, shape, (begin, end)) of one tensor's header entry, refusing anything but float32 and whole,
    non-negative, ordered numbers (a crafted header must not reach numpy as a negative shape or a string)."""
    if not isinstance(info, dict):
        raise _damaged(path, f"tensor {name}'s header entry is not an object")
    if info.get("dtype") != WEIGHT_DTYPE:
        raise ZooFormatError(f"weight shard {path} stores {name} as {info.get('dtype')!r}; rnnzoo stores weights as "
                             f"float32 ({WEIGHT_DTYPE}) only: the file was not written by rnnzoo or was altered; "
                             "re-download it or regenerate its job")
    shape, offsets = info.get("shape"), info.get("data_offsets")
    if not isinstance(shape, list) or not all(_whole(x) for x in shape):
        raise _damaged(path, f"tensor {name} has shape {shape!r}, not a list of non-negative whole numbers")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_whole(x) for x in offsets) or offsets[0] > offsets[1]:
        raise _damaged(path, f"tensor {name} has data_offsets {offsets!r}, not two ordered non-negative whole numbers")
    return np.dtype(np.float32), tuple(shape), (offsets[0], offsets[1])


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
    if not 0 < n <= min(size - 8, MAX_HEADER_BYTES):
        raise _damaged(path, f"bad header length {n} (a file of {size} bytes; at most {MAX_HEADER_BYTES:,})")
    try:
        header = json.loads(fh.read(n))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _damaged(path, f"header is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise _damaged(path, f"header is a JSON {type(header).__name__}, not an object")
    meta = header.pop("__metadata__", None)
    check_format_version(meta.get("format_version") if isinstance(meta, dict) else None, path)
    missing = [name for name in Weights.names() if name not in header]
    if missing:
        raise ZooFormatError(f"{path} lacks tensors {missing}; it is not an rnnzoo weight shard")
    foreign = sorted(set(header) - set(Weights.names()))
    if foreign:
        raise ZooFormatError(f"{path} holds tensors {foreign} besides the six weight tensors; it is not an rnnzoo "
                             "weight shard (or was altered): re-download it or regenerate its job")
    layout, spans = {}, []
    for name in Weights.names():
        dtype, shape, (begin, end) = _tensor_entry(header[name], name, path)
        if end - begin != math.prod(shape) * dtype.itemsize:
            raise _damaged(path, f"tensor {name}'s offsets do not fit its shape {shape}")
        spans.append((begin, end, name))
        layout[name] = (dtype, shape, 8 + n + begin)
    _check_spans(spans, size - 8 - n, path)
    _check_shapes({name: shape for name, (_, shape, _) in layout.items()}, path)
    return layout


def _check_spans(spans: list[tuple[int, int, str]], data_bytes: int, path: str | os.PathLike) -> None:
    """The safetensors library's own rule: the tensors' byte ranges tile the data section exactly, in order, with
    no gap and no overlap. Two tensors sharing bytes would let one altered file serve one network's W_out as its W_in."""
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            why = "overlaps another tensor" if begin < position else "leaves a gap before it"
            raise _damaged(path, f"tensor {name} (bytes {begin}-{end} of the data) {why}")
        position = end
    if position != data_bytes:
        raise _damaged(path, f"its tensors cover {position} bytes of a {data_bytes}-byte data section")


def _check_shapes(shapes: dict[str, tuple[int, ...]], path: str | os.PathLike) -> None:
    """Every tensor stacks the same networks: W_* are [M, a, b], b_* are [M, a], one M for all."""
    wrong = [f"{name} {shape}" for name, shape in shapes.items() if len(shape) != (3 if name.startswith("W") else 2)]
    if wrong or len({shape[0] for shape in shapes.values()}) != 1:
        raise _damaged(path, f"its tensors do not stack one set of networks ({', '.join(f'{n} {s}' for n, s in shapes.items())})")


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


def check_format_version(version: object, where: str | os.PathLike) -> None:
    """Refuse a missing, malformed (not a whole number) or newer format version, naming `where` and the fix."""
    if version is None:
        raise ZooFormatError(f"{where} carries no format version; it was not written by rnnzoo")
    text = str(version)
    if isinstance(version, bool) or not isinstance(version, (int, str)) or not text.isascii() or not text.isdigit():
        raise ZooFormatError(f"{where} has format version {version!r}, which is not a whole number; the file is "
                             "damaged or was not written by rnnzoo: re-download it (`rnnzoo verify DIR` checks all)")
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
    missing = {name: pa.nulls(n, NETWORK_SCHEMA.field(name).type)
               for name in DIAGNOSTIC_COLUMNS + OPTIONAL_COLUMNS + PROTOCOL_COLUMNS
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
RUN_LOG = "run-log.jsonl"  # wall-clock times and local paths of each generation run: never in the manifest
DATA_DIRS = (WEIGHTS_DIR, CURVES_DIR, JOBS_DIR, "trajectories", "figures", WEIGHTS_VIEW_DIR, CHECKPOINTS_VIEW_DIR,
             NETWORKS_VIEW_DIR)  # folders holding only the zoo's own files
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")
_FIX = "the zoo was damaged or altered: re-download it (`rnnzoo verify DIR` lists every problem)"


def check_relpath(rel: object, where: str | os.PathLike) -> str:
    """`rel` if it names a file inside the zoo folder (relative POSIX path without '..', '.', empty parts,
    backslashes or a drive), else a ZooFormatError: a crafted table or manifest must not reach other files."""
    if (not isinstance(rel, str) or not rel or rel.startswith("/") or "\\" in rel or "\x00" in rel
            or re.match(r"[A-Za-z]:", rel) or any(part in ("", ".", "..") for part in rel.split("/"))):
        raise ZooFormatError(f"{where} names the file {rel!r}, which is not a path inside the zoo folder "
                             f"(absolute, or climbing out with '..'); {_FIX}")
    return rel


def file_records(root: str | os.PathLike, exclude: Sequence[str] = (MANIFEST, RUN_LOG)) -> dict[str, dict]:
    """sha256 and size of every file under root (relative POSIX paths), skipping anything hidden (temporary
    files and folders of writes in progress or killed, .git, .cache) and the run log."""
    root = Path(root)
    records = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel in exclude or any(part.startswith(".") for part in rel.split("/")):
            continue
        records[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return records


def write_manifest(root: str | os.PathLike, info: dict) -> dict:
    """Write manifest.json: format version, `info` (config, code version, counts) and every file's sha256."""
    manifest = {"format_version": FORMAT_VERSION, **info, "files": file_records(root)}
    write_json_atomic(Path(root) / MANIFEST, manifest)
    return manifest


def read_manifest(root: str | os.PathLike) -> dict:
    """manifest.json of the zoo at root, checked: a JSON object in UTF-8, a format version this rnnzoo reads, and
    a `files` mapping of paths inside the zoo to records {"sha256": 64 hex digits, "bytes": size}."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise ZooFormatError(
            f"{path} is missing: {root} is not a finished zoo folder "
            "(finish it with `python generation/run.py --preset NAME --out DIR`, which resumes)"
        )
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ZooFormatError(f"{path} is not UTF-8 text ({exc}); it is damaged: re-download it") from exc
    except json.JSONDecodeError as exc:
        raise ZooFormatError(f"{path} is not valid JSON ({exc}); re-download it") from exc
    except RecursionError:
        raise ZooFormatError(f"{path} nests its JSON too deeply to be an rnnzoo manifest; it is damaged or crafted: "
                             "re-download it") from None
    if not isinstance(manifest, dict):
        raise ZooFormatError(f"{path} holds a JSON {type(manifest).__name__}, not an object; it is damaged or not an "
                             "rnnzoo manifest: re-download it")
    check_format_version(manifest.get("format_version"), path)
    check_file_records(manifest.get("files"), path)
    return manifest


def check_file_records(files: object, path: str | os.PathLike) -> None:
    """Refuse a manifest's `files` unless every entry maps a path inside the zoo to a sha256 and a byte count."""
    if not isinstance(files, dict) or not files:
        raise ZooFormatError(f"{path} lists no files; it is damaged: re-download it (or rerun the generation "
                             "command, which reassembles the zoo)")
    for rel, record in files.items():
        check_relpath(rel, path)
        if not isinstance(record, dict):
            raise ZooFormatError(f"{path}: the entry of {rel} is not an object with sha256 and bytes; {_FIX}")
        if not isinstance(record.get("sha256"), str) or not _SHA256.match(record["sha256"]):
            raise ZooFormatError(f"{path}: the entry of {rel} has no sha256 (64 hex digits) but "
                                 f"{record.get('sha256')!r}; {_FIX}")
        if not _whole(record.get("bytes")):
            raise ZooFormatError(f"{path}: the entry of {rel} has no size in bytes but {record.get('bytes')!r}; "
                                 f"{_FIX}")


def unlisted_files(root: str | os.PathLike, files: dict) -> list[Path]:
    """Files in the zoo's own folders (weights/, curves/, jobs/, trajectories/, figures/) that the manifest does
    not list: not part of the zoo as recorded, so never published (hidden names are judged by find_debris)."""
    root = Path(root)
    extra = []
    for top in DATA_DIRS:
        for path in sorted((root / top).rglob("*")) if (root / top).is_dir() else []:
            rel = path.relative_to(root).as_posix()
            if path.is_file() and rel not in files and not any(p.startswith(".") for p in rel.split("/")):
                extra.append(path)
    return extra


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
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ZooFormatError(f"{path} is not UTF-8 text ({exc}); re-render the card or re-download it") from exc
    if not text.startswith("---\n") or "\n---\n" not in text[4:]:
        raise ZooFormatError(f"{path} has no YAML front matter (between '---' lines); re-render the card")
    try:
        card = DatasetCard(text)
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
    inside = [Path(f).resolve() for f in found]
    outside = [f for f, r in zip(found, inside) if not r.is_relative_to(root)]
    if outside:
        raise ZooFormatError(f"{outside[0]} (selected by the card's pattern {pattern!r}) is a symbolic link to "
                             f"{Path(outside[0]).resolve()}, outside the zoo folder {root}; replace the link with the "
                             "file itself, or remove it")
    return sorted(r.relative_to(root).as_posix() for r in inside)


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
            try:
                matched = card_config_files(root, pattern)
            except ZooFormatError as exc:
                problems.append(f"{card}: config {name!r}: {exc}")
                continue
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
