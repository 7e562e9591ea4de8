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
        try:
            if isinstance(value, (list, tuple, set)):
                return [canonical_mechanism(v) for v in value]
            if isinstance(value, str):
                return canonical_mechanism(value)
        except ValueError as exc:  # a query mistake like any other: one error type for every bad query
            raise QueryError(f"{exc}; rnnzoo.classify's own labels (fixed, irregular, ...) are in the "
                             "`dynamics_label` column") from exc
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


def _check_type(series: pd.Series, value: Any) -> None:
    """Refuse values of the wrong kind for a column (a string for a number column, a number for a text column)."""
    if value is None:
        return
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        ok = isinstance(value, (bool, np.bool_))
        kind = "True or False"
    elif pd.api.types.is_numeric_dtype(dtype):
        ok = _is_number(value)
        kind = "numbers"
    else:
        ok = isinstance(value, str)
        kind = "text"
    if not ok:
        raise QueryError(f"column {series.name!r} holds {kind}; got {value!r} ({type(value).__name__})")


def _equal(series: pd.Series, value: Any) -> np.ndarray:
    _check_type(series, value)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return series.isna().to_numpy()
    if pd.api.types.is_float_dtype(series.dtype):
        return np.isclose(series.to_numpy(dtype=float), float(value), rtol=FLOAT_RTOL, atol=0.0)
    return (series == value).to_numpy()


def _range(series: pd.Series, value: tuple) -> np.ndarray:
    if len(value) != 2:
        raise QueryError(f"a range for {series.name!r} must be (low, high) (None for open), got {value!r}")
    low, high = value
    for bound in (low, high):
        if bound is not None and not pd.api.types.is_bool_dtype(series.dtype):
            _check_type(series, bound)
    if low is not None and high is not None and low > high:
        raise QueryError(f"the range for {series.name!r} is empty: low {low!r} > high {high!r}; write (low, high)")
    if pd.api.types.is_float_dtype(series.dtype):  # bounds are inclusive to the float tolerance
        low = None if low is None else low - abs(low) * FLOAT_RTOL
        high = None if high is None else high + abs(high) * FLOAT_RTOL
    mask = np.ones(len(series), dtype=bool)
    if low is not None:
        mask &= (series >= low).to_numpy()
    if high is not None:
        mask &= (series <= high).to_numpy()
    return mask


def _mask(series: pd.Series, value: Any) -> np.ndarray:
    if callable(value):
        result = np.asarray(value(series))
        if result.shape != (len(series),) or result.dtype != bool:
            raise QueryError(f"the callable for {series.name!r} must return one True/False per network "
                             f"({len(series)}), got an array of shape {result.shape} and dtype {result.dtype}")
        return result
    if isinstance(value, tuple):
        return _range(series, value)
    if isinstance(value, (list, set, frozenset, np.ndarray, pd.Index, pd.Series)):
        if len(value) == 0:
            raise QueryError(f"an empty list for {series.name!r} matches nothing; give at least one value")
        mask = np.zeros(len(series), dtype=bool)
        for v in value:
            mask |= _equal(series, v.item() if isinstance(v, np.generic) else v)
        return mask
    return _equal(series, value)


def _available(series: pd.Series, value: Any) -> str:
    values = pd.unique(series.dropna())
    targets = [value] if _is_number(value) else list(value) if isinstance(value, (list, tuple)) else []
    targets = [t for t in targets if _is_number(t)]
    if len(values) > 12 and pd.api.types.is_numeric_dtype(series.dtype) and targets:
        nearest = set()
        for t in targets:
            nearest.update(sorted(values, key=lambda v: abs(float(v) - float(t)))[:3])
        return f"nearest available: {', '.join(map(_fmt, sorted(nearest)))} ({len(values)} distinct values)"
    if len(values) > 40 and isinstance(value, str):
        close = difflib.get_close_matches(value, [str(v) for v in values], n=5, cutoff=0.6)
        if close:
            return f"closest available: {', '.join(close)} ({len(values)} distinct values)"
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
            how = "in the range" if isinstance(value, tuple) else "matching" if callable(value) else "="
            shown = getattr(value, "__name__", "the callable") if callable(value) else repr(value)
            raise QueryError(f"no network in {what} has {column} {how} {shown}; {_available(table[column], value)}")
        mask &= column_mask
    if not mask.any():
        summary = ", ".join(f"{k}={v!r}" for k, v in query.items())
        raise QueryError(
            f"no network in {what} matches all of {summary} at once (each matches some networks alone); "
            "loosen one condition, or inspect rnnzoo.load(...).metadata to see what exists"
        )
    return table[mask]


QueryValue = Any | list | tuple | Callable[[pd.Series], Any]
