"""Parquet views of a zoo's weights and checkpoints, for Hugging Face `datasets` and the Hub's viewer.

The safetensors shards stay the zoo's primary weights (lazy byte-range reads, one sha256 per network). These views
repeat the same float32 values as Parquet rows, one file set per split, so that

    datasets.load_dataset(DIR, "weights")       # splits train / validation / test, one row per network
    datasets.load_dataset(DIR, "checkpoints")   # one row per (network, checkpoint step)

return every network's weights as fixed-size float32 arrays beside its id, hyperparameters, outcome and mechanism
(class names as strings, so that pandas, DuckDB and the Hub's viewer show them as they are; the card declares
`mechanism` a ClassLabel of rnnzoo.labels.MECHANISM_CODES, so `datasets` gives the same codes in every split). They are written at assembly from the shards (generation/assemble.py),
listed in the manifest with their sha256 like every file, and declared as configs in the card.

Layout: VIEW_DIR/SPLIT-00000.parquet, ... (sorted by id, then step); a file holds at most about FILE_BYTES of
weights, so a full-scale zoo is cut into Hub-sized files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

from rnnzoo.dynamics import Weights
from rnnzoo.splits import SPLITS, splits_of
import pyarrow.parquet as pq

from rnnzoo.store import (CHECKPOINTS_VIEW_DIR, NETWORKS_VIEW_DIR, ROW_GROUP_BYTES, WEIGHTS_VIEW_DIR, atomic_path,
                          read_shard, write_table)

FILE_BYTES = 256 * 2**20  # weights per Parquet file (the Hub's sweet spot is 50-500 MB)
META_COLUMNS = ("id", "split", "family", "delay_ms", "lr", "seed", "alpha", "n_units", "steps", "final_accuracy",
                "mechanism", "outcome", "mechanism_share")
CHECKPOINT_META = ("id", "split", "step", "family", "delay_ms", "lr", "seed", "alpha", "n_units", "steps",
                   "mechanism", "outcome")
# Bytes of a view per byte of the safetensors shards it repeats, measured: weights 0.84x on the embedded sample
# (2,573,069 / 3,058,016 bytes) and on the benchmark zoo (43,795,879 / 51,955,744); checkpoints 0.69x on the sample
# (steps 0, 32, 1024, last: 7,022,725 / 10,189,312) and 0.78x on the benchmark zoo (doubling steps: 490,972,303 /
# 632,098,560). What the dry run (generation/run.py --dry-run) estimates a zoo's views from.
VIEW_BYTES_PER_SHARD_BYTE = {"weights": 0.84, "checkpoints": 0.76}
OUTCOMES = {"cycle": "learned", "manifold": "learned", "failed": "failed", "unstable": "unstable"}


def outcome_of(mechanism: object) -> str | None:
    """learned (cycle or manifold), failed or unstable; None for an unlabelled network."""
    return OUTCOMES.get(mechanism) if isinstance(mechanism, str) else None


def with_splits(table: pa.Table) -> pa.Table:
    """The networks table with its `split` column filled from the seeds (rnnzoo.splits)."""
    splits = pa.array(list(splits_of(table.column("seed").to_numpy())), pa.string())
    if "split" in table.column_names:
        return table.set_column(table.schema.get_field_index("split"), "split", splits)
    return table.append_column("split", splits)


def weight_array(values: np.ndarray) -> pa.Array:
    """[M, *shape] float32 as a nested fixed-size list array (datasets reads it as a fixed-length Sequence)."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    array: pa.Array = pa.array(values.reshape(-1), pa.float32())
    for size in reversed(values.shape[1:]):
        array = pa.FixedSizeListArray.from_arrays(array, int(size))
    return array


def _weights_of(root: Path, shards: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Weights of the given (shard, row) pairs, in that order, reading each shard once."""
    out: dict[str, np.ndarray] = {}
    for shard in sorted(set(shards)):
        positions = np.flatnonzero(shards == shard)
        part = read_shard(root / shard, rows[positions]).tensors()
        for name, tensor in part.items():
            if name not in out:
                out[name] = np.empty((len(rows), *tensor.shape[1:]), np.float32)
            out[name][positions] = tensor.numpy()
    return out


def write_view_table(path: Path, table: pa.Table) -> None:
    """Write one view file atomically: zstd, dictionary encoding for the text columns only (dictionaries of float
    weights only add bytes) and byte-stream-split float columns (zstd then compresses the exponent bytes): about
    0.9x the safetensors bytes instead of 1.5x with pyarrow's defaults."""
    floats = [f"{name}{'.list.element' * (weight_depth(table.schema.field(name).type))}" for name in Weights.names()]
    text = [f.name for f in table.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    rows_per_group = max(1, int(ROW_GROUP_BYTES / max(1, table.nbytes / max(1, table.num_rows))))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, row_group_size=rows_per_group, compression="zstd", use_dictionary=text,
                       use_byte_stream_split=floats)


def weight_depth(type_: pa.DataType) -> int:
    """How many list levels wrap the float32 values of a weight column."""
    depth = 0
    while pa.types.is_fixed_size_list(type_) or pa.types.is_list(type_):
        type_, depth = type_.value_type, depth + 1
    return depth


def _chunks(n_rows: int, row_bytes: int) -> Iterator[slice]:
    per_file = max(1, FILE_BYTES // max(1, row_bytes))
    for start in range(0, n_rows, per_file):
        yield slice(start, min(n_rows, start + per_file))


def _write(root: Path, folder: str, split: str, frame, weights_for, meta: tuple[str, ...]) -> list[str]:
    written = []
    n_units = int(frame["n_units"].max()) if len(frame) else 0
    for k, part in enumerate(_chunks(len(frame), Weights.n_bytes(n_units))):
        sub = frame.iloc[part]
        arrays = weights_for(sub)
        columns = {name: column for name, column in zip(meta, pa.Table.from_pandas(
            sub[list(meta)], preserve_index=False).columns)}
        columns.update({name: weight_array(arrays[name]) for name in Weights.names()})
        rel = f"{folder}/{split}-{k:05d}.parquet"
        write_view_table(root / rel, pa.table(columns))
        written.append(rel)
    return written


def write_weight_views(root: str | os.PathLike, table: pa.Table, checkpoints: bool = True) -> dict[str, list[str]]:
    """Write the `weights` view (and, when the table records checkpoints and `checkpoints` is True, the
    `checkpoints` view) of the zoo at `root` from its shards; returns {config: files written}. `table` is the
    assembled networks table with its split column. The view folders are replaced whole."""
    import shutil

    root = Path(root)
    for folder in (WEIGHTS_VIEW_DIR, CHECKPOINTS_VIEW_DIR):
        shutil.rmtree(root / folder, ignore_errors=True)
    frame = table.to_pandas().sort_values("id", kind="stable").reset_index(drop=True)
    frame["outcome"] = [outcome_of(m) for m in frame["mechanism"]]
    has_checkpoints = checkpoints and "checkpoint_shard" in frame and bool(frame["checkpoint_shard"].notna().any())
    written: dict[str, list[str]] = {"weights": []}
    if has_checkpoints:
        written["checkpoints"] = []
    for split in SPLITS:
        part = frame[frame["split"] == split].reset_index(drop=True)
        if not len(part):
            continue
        written["weights"] += _write(root, WEIGHTS_VIEW_DIR, split, part, lambda sub: _weights_of(
            root, sub["shard"].to_numpy(), sub["row"].to_numpy(np.int64)), META_COLUMNS)
        if has_checkpoints:
            kept = part[part["checkpoint_shard"].notna()]
            expanded = kept.loc[kept.index.repeat([len(s) for s in kept["checkpoint_steps"]])].copy()
            expanded["step"] = [int(s) for steps in kept["checkpoint_steps"] for s in steps]
            expanded["_row"] = [int(first) + k for first, steps in zip(kept["checkpoint_row"], kept["checkpoint_steps"])
                                for k in range(len(steps))]
            expanded = expanded.reset_index(drop=True)
            written["checkpoints"] += _write(root, CHECKPOINTS_VIEW_DIR, split, expanded, lambda sub: _weights_of(
                root, sub["checkpoint_shard"].to_numpy(), sub["_row"].to_numpy(np.int64)), CHECKPOINT_META)
    return written


def write_networks_views(root: str | os.PathLike, table: pa.Table) -> list[str]:
    """Write the networks table again as one Parquet file per split (NETWORKS_VIEW_DIR/SPLIT.parquet, rows as in
    the table), so that `datasets` gives the `networks` config the zoo's splits; returns the files written. A few
    MB even for the full grid; the folder is replaced whole."""
    import shutil

    root = Path(root)
    shutil.rmtree(root / NETWORKS_VIEW_DIR, ignore_errors=True)
    split = np.asarray(table.column("split").to_pylist(), dtype=object)
    written = []
    for name in SPLITS:
        if (split == name).any():
            rel = f"{NETWORKS_VIEW_DIR}/{name}.parquet"
            write_table(root / rel, table.filter(pa.array(split == name)))
            written.append(rel)
    return written


def view_splits(files: list[str] | dict, folder: str) -> dict[str, str]:
    """{split: data_files pattern} for the splits that have files in `folder` (listed zoo files): SPLIT-*.parquet,
    or SPLIT.parquet where a split is one file."""
    patterns = {}
    for split in SPLITS:
        if f"{folder}/{split}.parquet" in files:
            patterns[split] = f"{folder}/{split}.parquet"
        elif any(rel.startswith(f"{folder}/{split}-") and rel.endswith(".parquet") for rel in files):
            patterns[split] = f"{folder}/{split}-*.parquet"
    return patterns
