"""What a zoo's card reports, computed once at assembly: the counts per family, delay and mechanism, how sure the
labels are, how often rnnzoo's dynamics label agrees with the paper's, and the figures with their phase numbers.

assemble() calls `summarise` after the networks table and views are written: the counts go into the manifest's
`summary` (a few KB even for the full grid), the figures and their numbers into figures/ (figures/phases.json,
rnnzoo.figures.make_figures). generation/card.py only formats them, so a card re-rendered for publication reads
the same numbers the assembly computed and analyses nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rnnzoo.labels import CONTROL_LEARNED, MECHANISMS
from rnnzoo.store import file_records, write_bytes_atomic

FIGURES_DIR = "figures"  # redrawn whole at each assembly, so no figure outlives its card
COUNT_FIGURE = f"{FIGURES_DIR}/mechanisms_by_delay.png"  # the figure of zoos without a delay grid to draw


def count_summary(table: pd.DataFrame) -> list[dict]:
    """Per family: networks per delay (or, for the no-memory control, per response window) and mechanism."""
    parts = []
    for family, group in table.groupby("family", sort=True):
        control = bool((group["mechanism"] == CONTROL_LEARNED).any())
        labels = ["failed", CONTROL_LEARNED] if control else list(MECHANISMS)
        axis = "reaction_ms" if control else "delay_ms"
        counts = pd.crosstab(group[axis], pd.Categorical(group["mechanism"], categories=labels), dropna=False)
        counts = counts.reindex(columns=labels, fill_value=0)
        parts.append({"family": str(family), "axis": axis, "labels": labels, "values": [_plain(v) for v in counts.index],
                      "counts": counts.to_numpy(int).tolist()})
    return parts


def certainty_summary(table: pd.DataFrame) -> list[dict] | None:
    """Per family and delay, the learned networks, how many have a label share of 1, of 0.9-1 and under 0.9, the
    lowest share and how many rnnzoo's dynamics label agrees with; None for a table without shares."""
    learned = table[table["mechanism"].isin(["cycle", "manifold"])]
    if "mechanism_share" not in learned or learned["mechanism_share"].isna().all():
        return None
    rows = []
    for (family, delay), group in learned.groupby(["family", "delay_ms"], sort=True):
        share = group["mechanism_share"].astype(float)
        agrees = int(group["dynamics_agrees"].fillna(False).astype(bool).sum()) if "dynamics_agrees" in group else 0
        rows.append({"family": str(family), "delay_ms": int(delay), "learned": len(group),
                     "share_1": int((share == 1).sum()), "share_09": int(((share >= 0.9) & (share < 1)).sum()),
                     "share_below": int((share < 0.9).sum()), "lowest": float(share.min()), "agrees": agrees})
    return rows


def agreement_summary(table: pd.DataFrame) -> dict | None:
    """The paper's label against rnnzoo's dynamics label after both cues, learned networks; None without them."""
    learned = table[table["mechanism"].isin(["cycle", "manifold"])]
    if "dynamics_label" not in learned or learned["dynamics_label"].isna().all() or not len(learned):
        return None
    counts = pd.crosstab(learned["mechanism"], learned["dynamics_label"])
    return {"rows": [str(r) for r in counts.index], "columns": [str(c) for c in counts.columns],
            "counts": counts.to_numpy(int).tolist()}


def zoo_summary(table: pd.DataFrame) -> dict:
    """Every number of the card that comes from the networks table, as JSON-able values."""
    return {"n_networks": len(table), "counts": count_summary(table), "certainty": certainty_summary(table),
            "dynamics_agreement": agreement_summary(table)}


def summarise(root: Path, table: pd.DataFrame, info: dict) -> dict:
    """Draw the zoo's figures (with figures/phases.json) and return its zoo_summary: the card's analysis, done once."""
    draw_figures(Path(root), table, info)
    return zoo_summary(table)


def _plain(value: object) -> object:
    """A numpy scalar as the Python number JSON writes."""
    return value.item() if isinstance(value, np.generic) else value


def draw_count_figure(table: pd.DataFrame, path: Path) -> None:
    """Stacked bars: the share of each mechanism per delay (all families together)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(MECHANISMS) + ([CONTROL_LEARNED] if (table["mechanism"] == CONTROL_LEARNED).any() else [])
    counts = pd.crosstab(table["delay_ms"], table["mechanism"]).reindex(columns=labels, fill_value=0)
    shares = counts.div(counts.sum(axis=1), axis=0)
    colours = {"failed": "#9e9e9e", "cycle": "#d95f02", "manifold": "#1b9e77", "unstable": "#7570b3",
               CONTROL_LEARNED: "#e7298a"}
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=120)
    bottom = np.zeros(len(shares))
    x = np.arange(len(shares))
    for m in labels:
        ax.bar(x, shares[m].to_numpy(), bottom=bottom, color=colours[m], label=m, width=0.8)
        bottom += shares[m].to_numpy()
    ax.set_xticks(x, [str(d) for d in shares.index], rotation=90 if len(x) > 12 else 0)
    ax.set_xlabel("delay (ms)")
    ax.set_ylabel("share of networks")
    ax.set_title(f"Mechanism per delay ({len(table)} networks)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())




def draw_figures(root: Path, table: pd.DataFrame, info: dict | None = None) -> None:
    """rnnzoo.figures.make_figures (figures and figures/phases.json) for a zoo with a delay grid to draw, else a
    count plot. A failure to draw or write a figure (a full disk, a bug) is raised, not papered over: a card
    without its figures must fail the run rather than be published as finished."""
    from rnnzoo.family_table import memory_families
    from rnnzoo.figures import make_figures

    root = Path(root).resolve()  # make_figures answers with paths under it; a relative root must not hide them
    zoo = _provisional_zoo(root, table, info or {})
    made = make_figures(zoo, root / FIGURES_DIR) if memory_families(zoo, False) else None
    if not (made or {}).get("figures"):
        draw_count_figure(table, root / COUNT_FIGURE)


def _provisional_zoo(root: Path, table: pd.DataFrame, info: dict):
    """A Zoo over a folder whose manifest is not written yet (the card comes before it). Its source is named '.'
    (the zoo itself), never by its local path, which would end up in figures/phases.json."""
    from rnnzoo.sources import Source
    from rnnzoo.zoo import Zoo

    class _Folder(Source):
        def __init__(self, path: Path):
            self.root, self.name = path, "."

        def path(self, rel: str) -> Path:
            return self.root / rel

    return Zoo(table, _Folder(root), {"files": file_records(root), "preset": info.get("preset")})


