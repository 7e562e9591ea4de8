"""List queries ('any of these values') cost one pass over the table, not one per value, and select exactly what
the per-value comparison selects (float columns to the same relative tolerance)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import rnnzoo
from rnnzoo import query
from rnnzoo.query import FLOAT_RTOL, QueryError, apply_query


@pytest.fixture
def table(quick_zoo) -> pd.DataFrame:
    """The generated zoo's table, repeated to 1,200 rows with unique ids."""
    meta = rnnzoo.load(quick_zoo).metadata
    parts = [meta.assign(id=meta["id"] + f"-copy{k}") for k in range(100)]
    return pd.concat(parts, ignore_index=True)


@pytest.fixture
def per_value_passes(monkeypatch) -> list:
    """Counts the per-value comparisons over the whole column (the old, quadratic way)."""
    calls = []
    equal = query._equal

    def counted(series, value):
        calls.append(value)
        return equal(series, value)

    monkeypatch.setattr(query, "_equal", counted)
    return calls


def test_long_id_lists_are_one_lookup(table, per_value_passes):
    ids = list(table["id"].sample(500, random_state=0)) + [f"absent-{k}" for k in range(4_500)]
    result = apply_query(table, {"id": ids})
    assert set(result["id"]) == set(ids[:500]) and len(result) == 500
    assert per_value_passes == []  # no pass over the table per listed value


def test_float_lists_match_the_tolerance_of_single_values(table, per_value_passes):
    lrs = sorted(table["lr"].unique())
    assert len(lrs) >= 2
    asked = [lrs[0] * (1 + 0.9 * FLOAT_RTOL), lrs[-1] * (1 - 0.9 * FLOAT_RTOL), lrs[0] * (1 + 2 * FLOAT_RTOL)]
    asked += list(np.random.default_rng(0).uniform(10, 20, 10_000))  # far from every rate
    result = apply_query(table, {"lr": asked})
    assert per_value_passes == []
    expected = np.zeros(len(table), dtype=bool)
    for value in asked[:3]:
        expected |= np.isclose(table["lr"], value, rtol=FLOAT_RTOL, atol=0.0)
    assert list(result.index) == list(np.flatnonzero(expected))
    assert set(result["lr"]) == {lrs[0], lrs[-1]}  # the third is outside the tolerance


def test_million_value_lists_on_small_tables(table, per_value_passes):
    small = table.iloc[:72]
    assert len(apply_query(small, {"seed": list(range(1_000_000))})) == 72
    with pytest.raises(QueryError, match=r"no network in the zoo has delay_ms = \[1000, 1001, .*\.\.\. "
                                         r"\(999,000 values\); available: 20, 40"):
        apply_query(small, {"delay_ms": list(range(1000, 1_000_000))})
    assert per_value_passes == []


@pytest.mark.parametrize("column, values, message", [
    ("delay_ms", [20, "40"], r"column 'delay_ms' holds numbers; got '40' \(str\)"),
    ("family", ["nopost", 3], r"column 'family' holds text; got 3 \(int\)"),
    ("cue_held", [False, 0], r"column 'cue_held' holds True or False; got 0 \(int\)"),
    ("delay_ms", [True], r"column 'delay_ms' holds numbers; got True \(bool\)"),
])
def test_wrong_kinds_in_lists_are_still_named(table, column, values, message):
    with pytest.raises(QueryError, match=message):
        apply_query(table, {column: values})


def test_lists_with_none_and_numpy_values(table):
    assert len(apply_query(table, {"delay_ms": np.array([20, 40])})) == len(table)
    assert len(apply_query(table, {"delay_ms": [np.int64(20), None]})) == int((table["delay_ms"] == 20).sum())
    assert len(apply_query(table, {"cue_held": [False]})) == len(table)
