"""Select rows of the networks table: exact values, lists (any of), (low, high) ranges, callables."""

from __future__ import annotations

import difflib
from typing import Any, Callable

import numpy as np
import pandas as pd

from rnnzoo.labels import canonical_mechanism

COLUMN_ALIASES = {
    "delay": "delay_ms",
    "T": "delay_ms",
    "learning_rate": "lr",
    "hidden_size": "n_units",
    "n": "n_units",
    "N": "n_units",
    "tau": "tau_ms",
    "post": "post_ms",
}
FLOAT_RTOL = 1e-3  # learning rates and other float columns match to this relative tolerance


class QueryError(ValueError, LookupError):
    """A query names an unknown column or asks for values the zoo does not hold; the message lists what exists."""


def column_name(key: str, columns: list[str]) -> str:
    """The table column a query keyword names, or a QueryError listing the columns."""
    name = COLUMN_ALIASES.get(key, key)
    if name not in columns:
        close = difflib.get_close_matches(key, columns, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise QueryError(f"unknown column {key!r}.{hint} Columns: {', '.join(columns)}")
    return name


def _normalise(column: str, value: Any) -> Any:
    if column == "mechanism":
        if isinstance(value, (list, tuple, set)):
            return [canonical_mechanism(v) for v in value]
        if isinstance(value, str):
            return canonical_mechanism(value)
    return value


def _equal(series: pd.Series, value: Any) -> np.ndarray:
    if pd.api.types.is_float_dtype(series.dtype) and isinstance(value, (int, float, np.number)):
        return np.isclose(series.to_numpy(dtype=float), float(value), rtol=FLOAT_RTOL, atol=0.0)
    return (series == value).to_numpy()


def _mask(series: pd.Series, value: Any) -> np.ndarray:
    if callable(value):
        return np.asarray(value(series), dtype=bool)
    if isinstance(value, tuple):
        if len(value) != 2:
            raise ValueError(f"a range for {series.name!r} must be (low, high), got {value!r}")
        low, high = value
        mask = np.ones(len(series), dtype=bool)
        if low is not None:
            mask &= (series >= low).to_numpy()
        if high is not None:
            mask &= (series <= high).to_numpy()
        return mask
    if isinstance(value, (list, set, frozenset, np.ndarray, pd.Index)):
        mask = np.zeros(len(series), dtype=bool)
        for v in value:
            mask |= _equal(series, v)
        return mask
    return _equal(series, value)


def _available(series: pd.Series, value: Any) -> str:
    values = pd.unique(series)
    if len(values) > 12 and pd.api.types.is_numeric_dtype(series.dtype) and isinstance(value, (int, float)):
        nearest = sorted(values, key=lambda v: abs(float(v) - float(value)))[:5]
        return f"nearest available: {', '.join(map(_fmt, sorted(nearest)))}"
    return f"available: {', '.join(map(_fmt, sorted(values)[:40]))}" + (" ..." if len(values) > 40 else "")


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)


def apply_query(table: pd.DataFrame, query: dict[str, Any], what: str = "the zoo") -> pd.DataFrame:
    """Rows of `table` matching every keyword of `query`; a QueryError names the value that matched nothing."""
    columns = list(table.columns)
    mask = np.ones(len(table), dtype=bool)
    for key, value in query.items():
        column = column_name(key, columns)
        value = _normalise(column, value)
        column_mask = _mask(table[column], value)
        if not column_mask.any():
            raise QueryError(f"no network in {what} has {column} = {value!r}; {_available(table[column], value)}")
        mask &= column_mask
    if not mask.any():
        summary = ", ".join(f"{k}={v!r}" for k, v in query.items())
        raise QueryError(
            f"no network in {what} matches all of {summary} at once (each matches some networks alone); "
            "loosen one condition, or inspect rnnzoo.load(...).metadata to see what exists"
        )
    return table[mask]


QueryValue = Any | list | tuple | Callable[[pd.Series], Any]
