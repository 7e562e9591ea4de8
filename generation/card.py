"""Render a zoo folder's dataset card (README.md) from cards/dataset_card.md and the zoo's own files.

    python generation/card.py DIR        # re-render the card of a finished zoo and refresh its manifest

The YAML front matter declares the data license, the Hub metadata and `configs` that point only at Parquet (the
networks table as default, the training curves as "curves"), so `datasets.load_dataset(DIR)` and the Hub's viewer
read the tables and nothing else. The body follows the Hugging Face dataset-card template with the zoo's real
counts, grid and a figure (rnnzoo.figures.make_figures when it exists, else a count plot drawn here).
"""

from __future__ import annotations

import argparse
import os
import re
import string
import sys
from pathlib import Path

if __package__ in (None, ""):  # `python generation/card.py` from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd
import yaml

from rnnzoo.labels import MECHANISMS
from rnnzoo.store import (
    CARD,
    CURVES_DIR,
    FORMAT_VERSION,
    JOBS_DIR,
    MANIFEST,
    NETWORK_SCHEMA,
    NETWORKS_TABLE,
    RUN_LOG,
    ZooFormatError,
    card_config_problems,
    file_records,
    read_card_metadata,
    read_manifest,
    verify_zoo,
    write_bytes_atomic,
    write_manifest,
)

TEMPLATE = Path(__file__).resolve().parent.parent / "cards" / "dataset_card.md"
FIGURES_DIR = "figures"
COUNT_FIGURE = f"{FIGURES_DIR}/mechanisms_by_delay.png"
IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg")
REQUIRED_SECTIONS = (  # the Hugging Face dataset-card template's sections, in order
    "## Dataset Details", "### Dataset Description", "### Dataset Sources", "## Uses", "### Direct Use",
    "### Out-of-Scope Use", "## Dataset Structure", "## Dataset Creation", "### Curation Rationale",
    "### Source Data", "#### Data Collection and Processing", "### Annotations", "#### Annotation process",
    "## Bias, Risks, and Limitations", "### Recommendations", "## Citation", "## Dataset Card Authors",
)
REQUIRED_METADATA = ("license", "pretty_name", "size_categories", "tags", "configs")
CITED = ("2502.17433", "2311.10200")
COLUMN_MEANINGS = {
    "id": "stable network id: family, delay, learning rate, seed",
    "family": "training protocol (nopost, post, longtau, control)",
    "delay_ms": "delay between cue and reaction window (ms)",
    "lr": "SGD learning rate",
    "seed": "run index: initial weights and random streams",
    "n_units": "recurrent units N",
    "alpha": "dt / tau",
    "tau_ms": "time constant (ms)",
    "dt_ms": "time step (ms)",
    "cue_ms": "cue duration (ms)",
    "reaction_ms": "reaction window (ms)",
    "post_ms": "silent post-reaction window (ms)",
    "weighted_loss": "paper's per-step loss weights (else w = 1)",
    "cue_held": "cue held through the reaction (no-memory control)",
    "steps": "SGD steps trained",
    "final_loss": "weighted MSE on the canonical evaluation batch",
    "final_accuracy": "accuracy on the canonical evaluation batch",
    "final_reliability": "reliability on the canonical evaluation batch",
    "train_accuracy": "mean accuracy over the last 10% of training",
    "train_reliability": "mean reliability over the last 10% of training",
    "mechanism": "failed, cycle, manifold or unstable",
    "label": "class code: 0 failed, 1 cycle, 2 manifold, 3 unstable",
    "psd_ratio": "low-frequency PSD share (< 0.5: cycle)",
    "fluctuation": "RMS output fluctuation of the autonomous run",
    "shard": "weight shard holding the network",
    "row": "row of the network in its shard",
    "weights_sha256": "sha256 of the network's own weights (checked by the loader on every read)",
    "curves": "curve shard holding the network's training curves",
    "job": "generation job that trained it",
    "synthetic": "constructed by hand rather than trained",
    "dynamics_label": "label from rnnzoo's own diagnostics (period, slow points); null if not computed",
    "period_steps": "period of the noiseless autonomous orbit (steps); null if not periodic",
    "period_ratio": "period / (delay + reaction steps)",
    "amplitude": "RMS radius of the periodic orbit (state units)",
    "n_slow_points": "number of distinct slow points found",
    "slowest_speed": "speed |F(x) - x| at the slowest point found",
}


def size_category(n: int) -> str:
    """The Hub's size_categories bucket for n rows."""
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return name
    return "1M<n<10M"


def front_matter(preset: str, n_networks: int) -> dict:
    """The card's YAML metadata: license, Hub fields and `configs` pointing only at Parquet."""
    return {
        "license": "cc-by-4.0",
        "pretty_name": f"rnnzoo: trained RNNs for short-term memory ({preset})",
        "size_categories": [size_category(n_networks)],
        "tags": ["recurrent-neural-networks", "model-zoo", "weight-space-learning", "working-memory",
                 "dynamical-systems", "neuroscience", "safetensors"],
        "configs": [
            {"config_name": "networks", "default": True,
             "data_files": [{"split": "train", "path": NETWORKS_TABLE}]},
            {"config_name": "curves", "data_files": [{"split": "train", "path": f"{CURVES_DIR}/*.parquet"}]},
        ],
    }


def markdown_table(frame: pd.DataFrame, index_name: str) -> str:
    """A DataFrame as a Markdown table, its index as the first column."""
    head = [index_name] + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for idx, row in frame.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [str(v) for v in row.tolist()]) + " |")
    return "\n".join(lines)


def count_tables(table: pd.DataFrame) -> str:
    """Per family, the number of networks per delay (rows) and mechanism (columns), with totals."""
    parts = []
    for family, group in table.groupby("family", sort=True):
        counts = pd.crosstab(group["delay_ms"], pd.Categorical(group["mechanism"], categories=MECHANISMS),
                             dropna=False)
        counts = counts.reindex(columns=list(MECHANISMS), fill_value=0)
        counts["total"] = counts.sum(axis=1)
        counts.loc["all"] = counts.sum(axis=0)
        counts.columns.name = None
        shares = ", ".join(f"{m} {100 * counts.loc['all', m] / max(1, counts.loc['all', 'total']):.1f}%"
                           for m in MECHANISMS)
        parts.append(f"Family `{family}` ({len(group)} networks: {shares}):\n\n{markdown_table(counts, 'delay (ms)')}")
    return "\n\n".join(parts)


def grid_table(preset: dict, table: pd.DataFrame) -> str:
    """One row per family of the preset: delays, learning rates, seeds, steps and protocol constants."""
    lines = ["| family | delays (ms) | learning rates | seeds | SGD steps | tau (ms) | post (ms) | networks |",
             "|---|---|---|---|---|---|---|---|"]
    for fam in preset.get("families", []):
        delays = fam["delays_ms"]
        step = np.unique(np.diff(delays)) if len(delays) > 1 else []
        delay_text = (f"{delays[0]}-{delays[-1]} every {step[0]}" if len(step) == 1 else ", ".join(map(str, delays)))
        lrs = ", ".join(f"{lr:.3g}" for lr in fam["lrs"])
        steps = (str(fam["steps_fixed"]) if fam.get("steps_fixed") else
                 f"max({fam['steps_min']}, {fam['steps_numerator']:g} / lr)")
        n = int((table["family"] == fam["name"]).sum())
        lines.append(f"| `{fam['name']}` | {delay_text} | {len(fam['lrs'])}: {lrs} | {len(fam['seeds'])} | {steps} "
                     f"| {fam['tau_ms']:g} | {fam['post_ms']:g} | {n} |")
    return "\n".join(lines)


def layout_table(files: dict[str, dict]) -> str:
    """Top-level entries of the zoo folder with their file counts and sizes."""
    groups: dict[str, list[int]] = {}
    for rel, record in files.items():
        top = rel.split("/")[0] + ("/" if "/" in rel else "")
        groups.setdefault(top, []).append(int(record["bytes"]))
    meaning = {
        MANIFEST: "format version, generation config, code versions, sha256 of every file",
        NETWORKS_TABLE: "one row per network: hyperparameters, final metrics, label (config `networks`)",
        "weights/": "safetensors shards: W_in, b_in, W_rec, b_rec, W_out, b_out stacked [M, ...]",
        "curves/": "Parquet: per-step training curves, one row per network (config `curves`)",
        "trajectories/": "zarr v3: rates and outputs on the canonical trials",
        "jobs/": "per-job completion records (resume bookkeeping)",
        "generation.json": "the preset this folder was generated from",
        "figures/": "figures of this card",
        CARD: "this card",
    }
    lines = []
    for top in sorted(groups):
        sizes = groups[top]
        lines.append(f"| `{top}` | {meaning.get(top, '')} ({len(sizes)} file{'s' * (len(sizes) != 1)}, "
                     f"{_human(sum(sizes))}) |")
    lines.append(f"| `{CARD}` | {meaning[CARD]} |")
    lines.append(f"| `{MANIFEST}` | {meaning[MANIFEST]} |")
    return "\n".join(lines)


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def schema_table() -> str:
    return "\n".join(f"| `{f.name}` | {f.type} | {COLUMN_MEANINGS.get(f.name, '')} |" for f in NETWORK_SCHEMA)


# ---- figures ---------------------------------------------------------------------------------------------------
def draw_count_figure(table: pd.DataFrame, path: Path) -> None:
    """Stacked bars: the share of each mechanism per delay (all families together)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = pd.crosstab(table["delay_ms"], table["mechanism"]).reindex(columns=list(MECHANISMS), fill_value=0)
    shares = counts.div(counts.sum(axis=1), axis=0)
    colours = {"failed": "#9e9e9e", "cycle": "#d95f02", "manifold": "#1b9e77", "unstable": "#7570b3"}
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=120)
    bottom = np.zeros(len(shares))
    x = np.arange(len(shares))
    for m in MECHANISMS:
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


def make_card_figures(root: Path, table: pd.DataFrame, info: dict | None = None) -> tuple[dict[str, str], str]:
    """({caption: relative path} of the card's figures, a Markdown table of the phase statistics behind them):
    rnnzoo.figures.make_figures for a zoo with a delay grid to draw, else a count plot and no table.

    A failure to draw or write a figure (a full disk, a bug) is raised, not papered over: a card without its
    figures must fail the run rather than be published as finished."""
    from rnnzoo.figures import make_figures
    from rnnzoo.phases import memory_families

    figures: dict[str, str] = {}
    numbers = ""
    zoo = _provisional_zoo(root, table, info or {})
    if memory_families(zoo, False):
        made = make_figures(zoo, root / FIGURES_DIR) or {}
        figures.update(_images(root, made))
        numbers = phase_numbers_table(made.get("results", {}))
    if not figures:
        draw_count_figure(table, root / COUNT_FIGURE)
        figures["mechanism per delay"] = COUNT_FIGURE
    return figures, numbers


def phase_numbers_table(results: dict) -> str:
    """The headline phase statistics of each family (rnnzoo.phases.analyse summaries) beside the paper's values."""
    from rnnzoo.phases import PAPER_EXPONENTS

    def exponent(value, ci=None) -> str:
        if value is None:
            return "no fit (too few delays with a critical rate inside the grid)"
        text = f"T^{value:.2f}"
        if ci and all(isinstance(v, float) for v in ci):
            text += f" (95% bootstrap over seeds [{ci[0]:.2f}, {ci[1]:.2f}])"
        return text

    rows = []
    for family, res in results.items():
        s = res.get("summary", {})
        paper = {k.split("/")[1]: f"T^({v[0]} ± {v[1]})" for k, v in PAPER_EXPONENTS.items() if k.startswith(family + "/")}
        delays = ", ".join(f"{d:g}" for d in s.get("critical_fit_delays_ms", []))
        rows.append(f"| {family} | critical lr ({s.get('critical_estimator', 'raw')} estimator; delays {delays} ms) | "
                    f"{exponent(s.get('critical_exponent'), s.get('critical_exponent_ci'))} | "
                    f"{paper.get('no_learning', '')} |")
        rows.append(f"| {family} | reference no-learning boundary fit | "
                    f"{exponent(s.get('reference_no_learning_exponent'))} | {paper.get('no_learning', '')} |")
        rows.append(f"| {family} | reference slow-point boundary fit | "
                    f"{exponent(s.get('reference_slow_point_exponent'))} | {paper.get('slow_point', '')} |")
    if not rows:
        return ""
    return ("How the critical learning rate scales with the delay in this zoo (`rnnzoo.phases`; every number in "
            "`figures/phases.json`), beside arXiv 2502.17433:\n\n"
            "| family | quantity | this zoo | paper |\n|---|---|---|---|\n" + "\n".join(rows))


def _images(root: Path, made: object, caption: tuple[str, ...] = ()) -> dict[str, str]:
    """{caption: path relative to root} of the image files named anywhere in make_figures' (nested) answer."""
    if isinstance(made, dict):
        found: dict[str, str] = {}
        for key, value in made.items():
            if key != "results":
                found.update(_images(root, value, caption + (str(key),)))
        return found
    if isinstance(made, (str, os.PathLike)):
        path = Path(made)
        path = path if path.is_absolute() else root / FIGURES_DIR / path
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file() and path.resolve().is_relative_to(root.resolve()):
            name = " ".join(c for c in caption if c != "figures").replace("_", " ")
            return {name or path.stem: path.resolve().relative_to(root.resolve()).as_posix()}
    return {}


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


# ---- the card --------------------------------------------------------------------------------------------------
def render_card(root: str | Path, info: dict | None = None) -> str:
    """Render README.md for the zoo at `root` (networks table and data files written; manifest optional) and
    write it atomically; returns its text. `info` is the manifest info (preset, generation, versions)."""
    root = Path(root)
    if info is None:
        info = {k: v for k, v in read_manifest(root).items() if k != "files"}
    table_path = root / NETWORKS_TABLE
    if not table_path.is_file():
        raise ZooFormatError(f"{table_path} is missing: assemble the zoo before rendering its card")
    table = pd.read_parquet(table_path)
    figures, phase_numbers = make_card_figures(root, table, info)
    files = file_records(root, exclude=(MANIFEST, CARD, RUN_LOG))  # the card describes itself the same every time
    generation = info.get("generation", {})
    preset = generation.get("preset", {})
    devices = _devices(root)
    n = len(table)
    max_steps = generation.get("max_steps")
    extra = []
    if max_steps is not None:
        extra.append(f"- **This zoo is a test zoo:** SGD was capped at {max_steps} steps per network, far below the "
                     "protocol; its labels say little about the mechanisms.")
    if n < 1000:
        extra.append(f"- Only {n} networks: counts per cell are small, so fractions are coarse.")
    values = {
        "pretty_name": front_matter(info.get("preset", preset.get("name", "?")), n)["pretty_name"],
        "n_networks_text": f"{n:,}",
        "preset": info.get("preset", preset.get("name", "?")),
        "format_version": FORMAT_VERSION,
        "rnnzoo_version": info.get("rnnzoo_version", "?"),
        "torch_version": info.get("torch_version", "?"),
        "code_commit": f"commit {info['code_commit']}" if info.get("code_commit") else "commit unrecorded",
        "layout_table": layout_table(files),
        "schema_table": schema_table(),
        "trials": _trials(root),
        "counts_tables": count_tables(table),
        "grid_table": grid_table(preset, table),
        "figures": "\n\n".join([f"![{caption}]({rel})\n\n*Figure: {caption}.*" for caption, rel in figures.items()]
                              + ([phase_numbers] if phase_numbers else [])),
        "devices": ", ".join(devices),
        "extra_limitations": "\n".join(extra),
    }
    body = string.Template(TEMPLATE.read_text(encoding="utf-8")).substitute(values)
    meta = front_matter(values["preset"], n)
    text = "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n\n" + body
    write_bytes_atomic(root / CARD, text.encode("utf-8"))
    return text


def _devices(root: Path) -> list[str]:
    """The devices the jobs ran on, from their completion records."""
    import json

    found = set()
    for path in sorted((root / JOBS_DIR).glob("job-*.json")):
        try:
            found.add(str(json.loads(path.read_text()).get("device", "?")).split(":")[0])
        except json.JSONDecodeError:
            continue
    return sorted(found) or ["unrecorded devices"]


def _trials(root: Path) -> str:
    import json

    path = root / "trajectories" / "zarr.json"
    if not path.is_file():
        return "(none stored)"
    return str(json.loads(path.read_text()).get("attributes", {}).get("trials"))


def card_problems(root: str | Path, files: dict[str, dict] | None = None) -> list[str]:
    """What is missing from a zoo's card: metadata fields, template sections, counts, citations, a figure, and
    configs that resolve to the zoo's Parquet files."""
    root = Path(root)
    card = root / CARD
    try:
        meta = read_card_metadata(card)
    except ZooFormatError as exc:
        return [str(exc)]
    problems = [f"{card}: front matter lacks `{key}`" for key in REQUIRED_METADATA if not meta.get(key)]
    if meta.get("license") != "cc-by-4.0":
        problems.append(f"{card}: license is {meta.get('license')!r}, expected 'cc-by-4.0' for the data")
    text = card.read_text(encoding="utf-8")
    problems += [f"{card}: section {s!r} is missing" for s in REQUIRED_SECTIONS if f"\n{s}\n" not in text]
    problems += [f"{card}: does not cite arXiv {c}" for c in CITED if c not in text]
    if "### Counts per delay and mechanism" not in text or "| delay (ms) |" not in text:
        problems.append(f"{card}: the counts per delay and mechanism are missing")
    if leftover := re.findall(r"\$[a-z_]+", text):
        problems.append(f"{card}: unfilled template fields {sorted(set(leftover))}")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    if not images:
        problems.append(f"{card}: embeds no figure")
    problems += [f"{card}: figure {rel} is missing" for rel in images if not (root / rel).is_file()]
    files = files if files is not None else file_records(root)
    problems += card_config_problems(root, list(files))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoo", type=Path, help="a finished zoo folder")
    args = parser.parse_args(argv)
    try:
        manifest = read_manifest(args.zoo)
        damaged = [p for p in verify_zoo(args.zoo) if f"{args.zoo / CARD}" not in p
                   and f"{args.zoo / FIGURES_DIR}/" not in p]
        if damaged:  # re-recording checksums now would bless the damage: refuse, change nothing
            print(f"error: {args.zoo} has damaged or missing files; the card and manifest were left as they are:\n  "
                  + "\n  ".join(damaged), file=sys.stderr)
            return 2
        info = {k: v for k, v in manifest.items() if k not in ("files", "format_version")}
        render_card(args.zoo, info)
        write_manifest(args.zoo, info)
    except ZooFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    problems = card_problems(args.zoo)
    print(f"wrote {args.zoo / CARD}" + ("" if not problems else "; problems:\n  " + "\n  ".join(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
