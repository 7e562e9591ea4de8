"""Read the networks table and refuse one the loader could misread: missing or mistyped columns, nulls where a
network must have a value, duplicate ids, paths leaving the zoo folder.

Everything the loader does later (lookup by id, weights by shard and row, the task of each network) trusts these
columns, so they are checked once here, on the table as read, and a problem is named with the file and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rnnzoo.store import NETWORK_SCHEMA, ZooFormatError, check_relpath

# Columns every network has, by kind; a table without one of them cannot be queried, simulated or loaded.
REQUIRED = {
    "id": "string", "family": "string", "delay_ms": "integer", "lr": "number", "seed": "integer",
    "n_units": "integer", "alpha": "number", "dt_ms": "number", "cue_ms": "number", "reaction_ms": "number",
    "post_ms": "number", "weighted_loss": "bool", "cue_held": "bool", "mechanism": "string", "shard": "string",
    "row": "integer",
}
NOT_NULL = ("id", "family", "delay_ms", "seed", "n_units", "alpha", "dt_ms", "cue_ms", "reaction_ms", "post_ms",
            "weighted_loss", "cue_held", "shard", "row")
NOT_NAN = ("alpha", "dt_ms", "cue_ms", "reaction_ms", "post_ms")
PATH_COLUMNS = ("shard", "curves")
_KINDS = {
    "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
    "integer": pa.types.is_integer,
    "number": lambda t: pa.types.is_integer(t) or pa.types.is_floating(t),
    "bool": pa.types.is_boolean,
}


def _kind(type_: pa.DataType) -> str:
    for kind in ("bool", "integer", "string"):
        if _KINDS[kind](type_):
            return kind
    return "number" if pa.types.is_floating(type_) else str(type_)


def read_networks_table(path: str | os.PathLike, fix: str = "re-download it or run `rnnzoo verify DIR`") -> pd.DataFrame:
    """The networks table at `path` as a DataFrame, after checking it can be trusted (see check_networks_table).

    `fix` is the remedy the errors name (a Hub source says to re-download, a local folder to verify)."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ZooFormatError(f"networks table {path} cannot be read as Parquet ({exc}); it is truncated or "
                             f"damaged: {fix}") from exc
    check_networks_table(table, path, fix)
    return table.to_pandas()


def check_networks_table(table: pa.Table, where: str | os.PathLike, fix: str = "re-download it") -> None:
    """Raise ZooFormatError naming `where` unless every required column is present with the right kind of values,
    key columns hold no nulls (nor NaN), ids are unique and shard/curves paths stay inside the zoo folder."""
    schema = table.schema
    problems = [f"column {name!r} is missing" for name in REQUIRED if name not in schema.names]
    problems += [f"column {name!r} holds {_kind(schema.field(name).type)} ({schema.field(name).type}), not {kind}"
                 f" values" for name, kind in REQUIRED.items()
                 if name in schema.names and not _KINDS[kind](schema.field(name).type)
                 and not (name not in NOT_NULL and pa.types.is_null(schema.field(name).type))]
    if problems:
        expected = ", ".join(f"{f.name} ({f.type})" for f in NETWORK_SCHEMA if f.name in REQUIRED)
        raise ZooFormatError(f"networks table {where} is not an rnnzoo networks table: {'; '.join(problems)} "
                             f"(expected {expected}); {fix}")
    for name in NOT_NULL:
        column = table.column(name)
        bad = column.null_count
        if name in NOT_NAN and pa.types.is_floating(column.type):
            bad += pc.sum(pc.is_nan(column)).as_py() or 0
        if bad:
            first = _first_bad_row(table, name)
            raise ZooFormatError(f"networks table {where}: column {name!r} is empty (null or NaN) in {bad} row(s), "
                                 f"first at row {first} (id {table.column('id')[first].as_py()!r}); every network "
                                 f"needs a value there; {fix}")
    if (negative := pc.sum(pc.less(table.column("row"), 0)).as_py()):
        raise ZooFormatError(f"networks table {where}: column 'row' is negative in {negative} row(s); {fix}")
    ids = table.column("id")
    if not _unique(ids):
        counts = pc.value_counts(ids)
        repeated = [v["values"].as_py() for v in counts if v["counts"].as_py() > 1]
        raise ZooFormatError(f"networks table {where} lists {len(repeated)} id(s) more than once (first: "
                             f"{repeated[0]!r}); a lookup by id would return another network's data; {fix}")
    for name in PATH_COLUMNS:
        if name in schema.names:
            for rel in pc.unique(table.column(name).drop_null()).to_pylist():
                check_relpath(rel, f"networks table {where} (column {name!r})")


def _unique(ids: pa.ChunkedArray) -> bool:
    """True when no id repeats: one comparison of neighbours for a table sorted by id (as assembly writes it),
    a hash count otherwise."""
    n = len(ids)
    if n < 2:
        return True
    if pc.all(pc.greater(ids.slice(1), ids.slice(0, n - 1))).as_py():
        return True
    return pc.count_distinct(ids).as_py() == n


def _first_bad_row(table: pa.Table, name: str) -> int:
    column = table.column(name)
    bad = pc.is_null(column, nan_is_null=pa.types.is_floating(column.type))
    return int(pc.index(bad, True).as_py())
