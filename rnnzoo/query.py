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
        return _any_of(series, value)
    return _equal(series, value)


def _any_of(series: pd.Series, values: Any) -> np.ndarray:
    """Rows equal to any of `values`, in time that grows with rows + values (not their product): a hash lookup
    (Series.isin), or for float columns a sorted search of the tolerance intervals."""
    values = list(values) if not isinstance(values, np.ndarray) else values
    array = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    missing = pd.isna(array) if array.dtype == object or array.dtype.kind == "f" else np.zeros(len(array), bool)
    present = array[~missing]
    _check_types(series, present)
    mask = series.isna().to_numpy() if missing.any() else np.zeros(len(series), dtype=bool)
    if not present.size:
        return mask
    if pd.api.types.is_float_dtype(series.dtype):
        return mask | _near_any(series.to_numpy(dtype=float), present.astype(float))
    return mask | series.isin(present.tolist() if present.dtype == object else present).to_numpy()


def _check_types(series: pd.Series, values: np.ndarray) -> None:
    """_check_type for every value, at numpy speed when the array's dtype already says what they are."""
    dtype, kind = series.dtype, values.dtype.kind
    if pd.api.types.is_bool_dtype(dtype) and kind == "b":
        return
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype) and kind in "iuf":
        return
    if not pd.api.types.is_numeric_dtype(dtype) and kind == "U":
        return
    if kind == "O":  # a Python list: let pandas infer what it holds, in C
        inferred = pd.api.types.infer_dtype(values, skipna=True)
        if pd.api.types.is_bool_dtype(dtype):
            if inferred == "boolean":
                return
        elif pd.api.types.is_numeric_dtype(dtype):
            if inferred in ("integer", "floating", "mixed-integer-float"):
                return
        elif inferred == "string":
            return
    for v in values:
        _check_type(series, v.item() if isinstance(v, np.generic) else v)


def _near_any(column: np.ndarray, values: np.ndarray) -> np.ndarray:
    """column[i] within FLOAT_RTOL of some value (np.isclose(column, v, rtol, atol=0) for any v), vectorised:
    the intervals [v - tol, v + tol] sorted by their low end, with the running maximum of their high ends."""
    tol = np.abs(values) * FLOAT_RTOL
    low, high = values - tol, values + tol
    order = np.argsort(low, kind="stable")
    low, reach = low[order], np.maximum.accumulate(high[order])
    at = np.searchsorted(low, column, side="right") - 1
    inside = at >= 0
    inside[inside] = reach[at[inside]] >= column[inside]
    return inside


def _available(series: pd.Series, value: Any) -> str:
    values = pd.unique(series.dropna())
    targets = [value] if _is_number(value) else list(value) if isinstance(value, (list, tuple)) else []
    targets = [t for t in targets[:5] if _is_number(t)]  # the nearest to a few values: enough to show the grid
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


def _short(value: Any, limit: int = 200) -> str:
    """repr of a query value, cut for long lists (a million ids must not become a million-id message)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    count = f" ({len(value):,} values)" if hasattr(value, "__len__") else ""
    return text[:limit] + "..." + count


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
            shown = getattr(value, "__name__", "the callable") if callable(value) else _short(value)
            raise QueryError(f"no network in {what} has {column} {how} {shown}; {_available(table[column], value)}")
        mask &= column_mask
    if not mask.any():
        summary = ", ".join(f"{k}={_short(v)}" for k, v in query.items())
        raise QueryError(
            f"no network in {what} matches all of {summary} at once (each matches some networks alone); "
            "loosen one condition, or inspect rnnzoo.load(...).metadata to see what exists"
        )
    return table[mask]


QueryValue = Any | list | tuple | Callable[[pd.Series], Any]
