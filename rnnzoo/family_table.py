"""One family's rows of a networks table, and which of the reference's protocols analyses it (no post, post,
no-memory control); the JSON rule for the numbers the phase analyses report. Shared by rnnzoo.phases (the
reference's estimators) and rnnzoo.boundaries (the likelihood fit), which read only the networks table."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from rnnzoo.labels import LABEL_VALUES

_REQUIRED = ("family", "delay_ms", "lr", "seed", "mechanism")


def networks_frame(zoo: Any, family: str | None = None, include_synthetic: bool = False) -> pd.DataFrame:
    """The networks table of a Zoo (or a DataFrame in its format) restricted to one family of trained networks.

    Synthetic rows (constructed, not trained) are left out unless include_synthetic. With several families in the
    table, `family` must name one (see memory_families).
    """
    table = zoo.metadata if hasattr(zoo, "metadata") else zoo
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected an rnnzoo.Zoo or its metadata DataFrame, got {type(zoo).__name__}")
    missing = [c for c in _REQUIRED if c not in table.columns]
    if missing:
        raise ValueError(f"the networks table lacks columns {missing}; pass a Zoo or zoo.metadata")
    n_all = len(table)
    if not include_synthetic and "synthetic" in table.columns:
        table = table[~table["synthetic"].astype(bool)]
    if table.empty:
        raise ValueError(f"no trained networks to analyse ({n_all} rows, all synthetic or none); "
                         "pass include_synthetic=True to analyse constructed networks")
    found = sorted(table["family"].unique())
    if family is None:
        if len(found) > 1:
            raise ValueError(f"this zoo holds several families {found}; pass family=... (one of them)")
        family = found[0]
    if family not in found:
        raise ValueError(f"no networks of family {family!r} here; families present: {found}")
    table = table[table["family"] == family]
    unknown = sorted(set(table["mechanism"].astype(str)) - set(LABEL_VALUES))
    if unknown:
        raise ValueError(f"unknown mechanism labels {unknown}; expected {list(LABEL_VALUES)}")
    return table.reset_index(drop=True)


def memory_families(zoo: Any, include_synthetic: bool = False) -> list[str]:
    """Families whose networks hold a memory across a delay grid (the no-memory control is left out)."""
    table = zoo.metadata if hasattr(zoo, "metadata") else zoo
    if not include_synthetic and "synthetic" in table.columns:
        table = table[~table["synthetic"].astype(bool)]
    out = []
    for name, group in table.groupby("family", sort=True):
        if not _is_control(str(name), group):
            out.append(str(name))
    return out


def control_families(zoo: Any, include_synthetic: bool = False) -> list[str]:
    """Families without a memory to hold: the no-memory control (analysed by reference_control_fit)."""
    table = zoo.metadata if hasattr(zoo, "metadata") else zoo
    if not include_synthetic and "synthetic" in table.columns:
        table = table[~table["synthetic"].astype(bool)]
    return [str(name) for name, group in table.groupby("family", sort=True) if _is_control(str(name), group)]


def _is_control(name: str, group: pd.DataFrame) -> bool:
    """A family is the no-memory control when it is named so, holds its target over the whole trial, or holds its
    cue through the response (the earlier control protocol)."""
    def all_true(column: str) -> bool:
        return column in group.columns and bool(group[column].fillna(False).astype(bool).all())

    return name == "control" or all_true("target_held") or all_true("cue_held")


def family_protocol(zoo: Any, family: str | None = None, include_synthetic: bool = True) -> str:
    """'control' (target held over the whole trial, or cue held: the no-memory control), 'post' (a post-reaction
    window, post_ms > 0) or 'nopost': which of the reference's scripts analyses this family. Tables without a
    post_ms column fall back on the family's name."""
    table = networks_frame(zoo, family, include_synthetic)
    name = str(table["family"].iloc[0])
    if _is_control(name, table):
        return "control"
    if "post_ms" in table.columns:
        post = table["post_ms"].fillna(0).to_numpy(float) > 0
        if post.any() and not post.all():
            raise ValueError(f"family {name!r} mixes networks with and without a post-reaction window; filter it "
                             "first, e.g. zoo.filter(post_ms=0)")
        return "post" if post.all() else "nopost"
    return "post" if name == "post" else "nopost"


def _clean(v: Any) -> Any:
    """JSON-safe scalars: numpy to Python, nan to None, infinities to strings."""
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v
