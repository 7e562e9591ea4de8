"""Render a zoo folder's dataset card (README.md) from cards/dataset_card.md and the zoo's own files.

    python generation/card.py DIR        # re-render the card of a finished zoo and refresh its manifest

The YAML front matter (huggingface_hub's DatasetCardData) declares the data license, the Hub metadata and
`configs` that point only at Parquet (the networks table as default, the training curves as "curves"), so
`datasets.load_dataset(DIR)` and the Hub's viewer read the tables and nothing else. The body follows the Hugging
Face dataset-card template with the zoo's real counts, grid and figures, formatted from what the assembly computed
(generation/summary.py: the manifest's `summary` and the figures folder); this module analyses nothing. The repository link and install line come from `[project.urls]` in pyproject.toml; the loading
examples name the Hub repository when one is given (generation/publish.py renders the card it uploads that way),
else the zoo's own folder, so the card never holds a placeholder.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import string
import sys
import tomllib
from pathlib import Path

if __package__ in (None, ""):  # `python generation/card.py` from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd
from huggingface_hub import DatasetCard, DatasetCardData

from rnnzoo.folder import FolderInUse, FolderLock
from rnnzoo.leftovers import remove_debris
from generation.summary import COUNT_FIGURE, FIGURES_DIR
from rnnzoo.labels import LABEL_DRAWS, LABEL_VALUES
from rnnzoo.store import card_config_files
from rnnzoo.splits import SPLIT_RULE, SPLITS
from rnnzoo.verify import verify_zoo
from rnnzoo.views import view_splits
from rnnzoo.store import (
    CARD,
    CHECKPOINTS_DIR,
    CHECKPOINTS_VIEW_DIR,
    CURVES_DIR,
    FORMAT_VERSION,
    JOBS_DIR,
    MANIFEST,
    NETWORK_SCHEMA,
    NETWORKS_TABLE,
    NETWORKS_VIEW_DIR,
    RUN_LOG,
    WEIGHTS_DIR,
    WEIGHTS_VIEW_DIR,
    ZooFormatError,
    card_config_problems,
    file_records,
    read_card,
    read_manifest,
    write_bytes_atomic,
    write_manifest,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = REPO_ROOT / "cards" / "dataset_card.md"
PYPROJECT = REPO_ROOT / "pyproject.toml"
PHASES_JSON = "figures/phases.json"
FIGURE_ORDER = ("phase_diagram", "critical_rate", "manifold_fraction")  # make_figures' order; others after
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
    "cue_held": "cue held through the reaction (an option; no published family uses it)",
    "target_held": "target = the cue's one-hot over the whole trial (no-memory control)",
    "readout": "outputs: sigmoid(W_out r + b_out), or linear W_out r + b_out (no-memory control)",
    "early_stopped": "training stopped when the loss exceeded 100 (no-memory control); steps = steps done",
    "steps": "SGD steps trained",
    "final_loss": "weighted MSE on the canonical evaluation batch",
    "final_accuracy": "exact-window accuracy (every reaction step against its cue) on the canonical evaluation batch",
    "final_reliability": "exact-window reliability on the canonical evaluation batch",
    "train_accuracy": "the paper's accuracy (its shifted window, 4 decimals) averaged over the last 10% of training",
    "train_reliability": "the paper's reliability averaged over the last 10% of training",
    "mechanism": "the paper's label, as its code computes it: failed, cycle, manifold or unstable (no-memory control: "
                 "learned or failed, no mechanism test)",
    "label": "class code: 0 failed, 1 cycle, 2 manifold, 3 unstable, 4 learned (no-memory control)",
    "mechanism_share": "share of the paper's test's draws (its random start, noise and randomised PCA) that gave the "
                       "mechanism, its modal label; 1.0 = every draw agrees (null unless learned)",
    "dynamics_agrees": "rnnzoo's dynamics label after both cues agrees with the mechanism (cycle = cycle; manifold = "
                       "manifold or two_fixed_points); null unless learned",
    "psd_ratio": "the paper's PSD ratio (low-frequency share, its trial: cue on input 1), median over the draws; "
                 "< 0.5 exactly when the mechanism is cycle",
    "fluctuation": "RMS output fluctuation of the paper's autonomous run, median over the draws",
    "exact_outcome": "learned, failed or unstable by the paper's rule applied to the exact-window curves",
    "train_exact_accuracy": "exact-window accuracy averaged over the last 10% of training",
    "train_exact_reliability": "exact-window reliability averaged over the last 10% of training",
    "checkpoint_steps": "training steps with stored weights (0 = initial, last = final); null without checkpoints",
    "checkpoint_shard": "checkpoint shard holding the network's checkpoints",
    "checkpoint_row": "first row of the network's checkpoints in that shard (one row per step)",
    "shard": "weight shard holding the network",
    "row": "row of the network in its shard",
    "weights_sha256": "sha256 of the network's own weights (checked by the loader on every read)",
    "curves": "curve shard holding the network's training curves",
    "job": "generation job that trained it",
    "synthetic": "constructed by hand rather than trained",
    "split": "fixed benchmark split by seed (train, validation, test; rnnzoo.splits)",
    "dynamics_label": "rnnzoo's own label from the dynamics after both cues: cycle, manifold, two_fixed_points, mixed, "
                      "fixed, irregular (failed / unstable kept); null if not computed",
    "regime_cue0": "where the noiseless run after cue 0 ends: cycle, manifold, fixed or irregular",
    "regime_cue1": "the same after cue 1",
    "period_steps_cue1": "period of the orbit after cue 1 (steps); null if not periodic",
    "end_separation": "distance between the final states of the two cues' runs (rate units)",
    "period_steps": "period of the noiseless autonomous orbit after cue 0 (steps); null if not periodic",
    "period_ratio": "period / (delay + reaction steps)",
    "amplitude": "RMS radius of the periodic orbit (state units)",
    "n_slow_points": "number of distinct slow points found along the run after cue 0",
    "slowest_speed": "speed |F(x) - x| at the slowest point found",
}


def size_category(n: int) -> str:
    """The Hub's size_categories bucket for n rows."""
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return name
    return "1M<n<10M"


def view_configs(files: "list[str] | dict | None") -> list[dict]:
    """The `weights` and `checkpoints` configs: their Parquet views (rnnzoo.views), one data_files entry per split
    that has files; none for a zoo without views (assembled by an older rnnzoo)."""
    configs = []
    for name, folder in (("weights", WEIGHTS_VIEW_DIR), ("checkpoints", CHECKPOINTS_VIEW_DIR)):
        splits = view_splits(list(files or []), folder)
        if splits:
            configs.append({"config_name": name,
                            "data_files": [{"split": split, "path": pattern} for split, pattern in splits.items()]})
    return configs


def split_files(files: "list[str] | dict | None", folder: str, unsplit: str) -> list[dict]:
    """A per-network config's data_files: one entry per split when every Parquet file in `folder` is named after
    its split (SPLIT.parquet or SPLIT-*.parquet), else the whole of `unsplit` as one `train` split (zoos written
    before their tables and curves were split by seed)."""
    names = [rel[len(folder) + 1:] for rel in (files or []) if rel.startswith(f"{folder}/") and rel.endswith(".parquet")]
    named = all(any(name == f"{split}.parquet" or name.startswith(f"{split}-") for split in SPLITS) for name in names)
    if names and named:
        return [{"split": split, "path": pattern} for split, pattern in view_splits(
            [f"{folder}/{name}" for name in names], folder).items()]
    return [{"split": "train", "path": unsplit}]


def mechanism_features(root: Path, configs: list[dict]) -> list[dict]:
    """`dataset_info` entries giving each config's `mechanism` column as one ClassLabel (rnnzoo.labels.MECHANISM_CODES:
    the table's `label`), so `datasets` hands out the same codes in every split, while pandas and DuckDB read the
    names the Parquet files hold. Features come from each config's first file's schema (a config shares one)."""
    import datasets
    import pyarrow.parquet as pq

    infos = []
    for config in configs:
        first = sorted(f for entry in config["data_files"] for f in (card_config_files(root, entry["path"]) or []))
        if not first:
            continue
        schema = pq.read_schema(root / first[0])
        if "mechanism" not in schema.names:
            continue
        features = datasets.Features.from_arrow_schema(schema)
        features["mechanism"] = datasets.ClassLabel(names=list(LABEL_VALUES))
        infos.append({"config_name": config["config_name"], "features": features._to_yaml_list()})
    return infos


def front_matter(preset: str, n_networks: int, files: "list[str] | dict | None" = None,
                 root: Path | None = None) -> DatasetCardData:
    """The card's YAML metadata (the Hub's DatasetCardData): license, Hub fields, `configs` pointing only at Parquet
    (`files`: the zoo's files, from which the weights / checkpoints configs and their splits are found) and, with
    the zoo's `root`, the `mechanism` ClassLabel of every config (mechanism_features)."""
    configs = [
        {"config_name": "networks", "default": True, "data_files": split_files(files, NETWORKS_VIEW_DIR, NETWORKS_TABLE)},
        {"config_name": "curves", "data_files": split_files(files, CURVES_DIR, f"{CURVES_DIR}/*.parquet")},
        *view_configs(files),
    ]
    extra = {"dataset_info": mechanism_features(root, configs)} if root is not None else {}
    return DatasetCardData(
        license="cc-by-4.0",
        pretty_name=f"rnnzoo: trained RNNs for short-term memory ({preset})",
        size_categories=[size_category(n_networks)],
        tags=["recurrent-neural-networks", "model-zoo", "weight-space-learning", "working-memory",
              "dynamical-systems", "neuroscience", "safetensors"],
        configs=configs,
        **extra,
    )


def project_urls(pyproject: Path = PYPROJECT) -> dict[str, str]:
    """`[project.urls]` of pyproject.toml; the card's repository link, install line and contact come from it."""
    urls = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("urls", {})
    missing = [key for key in ("Repository", "Issues") if not urls.get(key)]
    if missing:
        raise ZooFormatError(f"{pyproject} lacks {missing} under [project.urls]; the dataset card links the "
                             "repository and its issues from there")
    return urls


def install_line(urls: dict[str, str]) -> str:
    """The pip command that installs rnnzoo from its repository (no package index serves it)."""
    return f'pip install "rnnzoo @ git+{urls["Repository"]}"'


def md_cell(value: object) -> str:
    """One Markdown table cell: `|` escaped (else it splits the cell), line breaks joined; never empty."""
    text = " ".join(str(value).split())
    if not text:
        raise ValueError("an empty Markdown table cell; every cell of the card must say something")
    return re.sub(r"(?<!\\)\|", r"\\|", text)


def md_table(header: list[str], rows: list[list[object]]) -> str:
    """A Markdown table with every cell escaped and filled (ValueError naming the row otherwise)."""
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"table row {row} has {len(row)} cells for {len(header)} columns")
        try:
            lines.append("| " + " | ".join(md_cell(v) for v in row) + " |")
        except ValueError as exc:
            raise ValueError(f"{exc} (row {row} of the table {header})") from None
    return "\n".join(lines)


def markdown_table(frame: pd.DataFrame, index_name: str) -> str:
    """A DataFrame as a Markdown table, its index as the first column."""
    return md_table([index_name] + [str(c) for c in frame.columns],
                    [[idx] + row.tolist() for idx, row in frame.iterrows()])


def count_tables(counts: list[dict]) -> str:
    """Per family, the number of networks per delay (rows) and mechanism (columns), with totals; the no-memory
    control (labels learned / failed, no delay) per response window instead (generation.summary.count_summary)."""
    parts = []
    for part in counts:
        labels = part["labels"]
        row_name = "response (ms)" if part["axis"] == "reaction_ms" else "delay (ms)"
        frame = pd.DataFrame(part["counts"], index=part["values"], columns=labels, dtype=int)
        frame["total"] = frame.sum(axis=1)
        frame.loc["all"] = frame.sum(axis=0)
        total = int(frame.loc["all", "total"])
        shares = ", ".join(f"{m} {100 * frame.loc['all', m] / max(1, total):.1f}%" for m in labels)
        parts.append(f"Family `{part['family']}` ({total} networks: {shares}):\n\n{markdown_table(frame, row_name)}")
    return "\n\n".join(parts)


def certainty_table(rows: list[dict] | None) -> str:
    """Per family and delay, how sure the paper's own recipe is of its labels (generation.summary.certainty_summary):
    the learned networks whose label every draw gives, those with a share of at least 0.9, the uncertain rest, the
    lowest share, and how many of them rnnzoo's dynamics label agrees with."""
    if rows is None:
        return "This zoo's table records no label shares (labelled by an older rnnzoo: relabel it with --relabel)."
    return md_table(["family", "delay (ms)", "learned", "share 1", "share 0.9-1", "share < 0.9", "lowest share",
                     "dynamics agrees"],
                    [[r["family"], r["delay_ms"], r["learned"], r["share_1"], r["share_09"], r["share_below"],
                      f"{r['lowest']:.2f}", r["agrees"]] for r in rows])


def dynamics_agreement_table(agreement: dict | None) -> str:
    """The paper's label (rows) against rnnzoo's dynamics label after both cues (columns), learned networks."""
    if agreement is None:
        return "No dynamics diagnostics recorded."
    frame = pd.DataFrame(agreement["counts"], index=agreement["rows"], columns=agreement["columns"], dtype=int)
    return markdown_table(frame, "paper's label")


def grid_table(preset: dict, table: pd.DataFrame) -> str:
    """One row per family of the preset: delays, learning rates, seeds, steps and protocol constants."""
    rows = []
    for fam in preset.get("families", []):
        delays = fam["delays_ms"]
        step = np.unique(np.diff(delays)) if len(delays) > 1 else []
        delay_text = (f"{delays[0]}-{delays[-1]} every {step[0]}" if len(step) == 1 else ", ".join(map(str, delays)))
        lrs = ", ".join(f"{lr:.3g}" for lr in fam["lrs"])
        steps = (str(fam["steps_fixed"]) if fam.get("steps_fixed") else
                 f"max({fam['steps_min']}, {fam['steps_numerator']:g} / lr)")
        n = int((table["family"] == fam["name"]).sum())
        rows.append([f"`{fam['name']}`", delay_text, f"{len(fam['lrs'])}: {lrs}", len(fam["seeds"]), steps,
                     f"{fam['tau_ms']:g}", f"{fam['post_ms']:g}", n])
    if not rows:
        return "The generation record of this zoo names no families (it predates `generation.json`)."
    return md_table(["family", "delays (ms)", "learning rates", "seeds", "SGD steps", "tau (ms)", "post (ms)",
                     "networks"], rows)


def _file_sizes(root: Path) -> dict[str, dict]:
    """{relative path: {"bytes": size}} of the zoo's files (as file_records, without hashing: the layout table
    needs sizes only, and a full-scale zoo holds tens of GB)."""
    return {p.relative_to(root).as_posix(): {"bytes": p.stat().st_size} for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".") and "/." not in p.relative_to(root).as_posix()
            and p.relative_to(root).as_posix() not in (MANIFEST, CARD, RUN_LOG)}


def layout_table(files: dict[str, dict]) -> str:
    """Top-level entries of the zoo folder with their file counts and sizes."""
    groups: dict[str, list[int]] = {}
    for rel, record in files.items():
        top = rel.split("/")[0] + ("/" if "/" in rel else "")
        groups.setdefault(top, []).append(int(record["bytes"]))
    meaning = {
        MANIFEST: "format version, generation config, code versions, sha256 of every file",
        NETWORKS_TABLE: "one row per network: hyperparameters, final metrics, label (what rnnzoo.load reads)",
        f"{NETWORKS_VIEW_DIR}/": "Parquet: the same table, one file per split (config `networks`)",
        "weights/": "safetensors shards: W_in, b_in, W_rec, b_rec, W_out, b_out stacked [M, ...]",
        f"{WEIGHTS_VIEW_DIR}/": "Parquet: the same weights as arrays, one row per network, per split (config `weights`)",
        f"{CHECKPOINTS_VIEW_DIR}/": "Parquet: the checkpoints as arrays, one row per network and step (config "
                                    "`checkpoints`)",
        f"{CHECKPOINTS_DIR}/": "safetensors shards: weights at the checkpoint steps, one row per network and step",
        "curves/": "Parquet: per-step training curves, one row per network, per split (config `curves`)",
        "trajectories/": "zarr v3: rates and outputs on the canonical trials",
        "jobs/": "per-job completion records (resume bookkeeping)",
        "generation.json": "the preset this folder was generated from",
        "figures/": "figures of this card",
        CARD: "this card",
    }
    rows = []
    for top in sorted(groups):
        sizes = groups[top]
        rows.append([f"`{top}`", f"{meaning.get(top, 'other files of this zoo')} ({len(sizes)} "
                                 f"file{'s' * (len(sizes) != 1)}, {_human(sum(sizes))})"])
    rows.append([f"`{CARD}`", meaning[CARD]])  # a fixed row: the card describes itself the same every time
    rows.append([f"`{MANIFEST}`", meaning[MANIFEST]])
    return md_table(["path", "what"], rows)


def _bytes_under(files: dict[str, dict], folder: str) -> int:
    return sum(int(r["bytes"]) for rel, r in files.items() if rel.startswith(f"{folder}/"))


def checkpoint_text(generation: dict) -> str:
    """Which training steps this zoo's checkpoints hold, from its generation config."""
    factor = generation.get("checkpoint_factor")
    if not factor:
        return ("This zoo keeps no training checkpoints (its preset keeps none; `python generation/run.py --preset NAME "
                "--checkpoints 2` regenerates one with doubling steps).")
    first = int(generation.get("checkpoint_first", 1))
    start = "1 (the first step)" if first == 1 else f"{first}"
    return (f"`checkpoints/shard-NNNNN.safetensors` hold each network's weights at steps 0 (initial), {start}, then "
            f"every {factor}-fold step count below its last step, and its last step (`checkpoint_steps`, "
            "`checkpoint_shard`, `checkpoint_row` in the table; `net.checkpoints()` in `rnnzoo`).")


def weightspace_text(table: pd.DataFrame, files: dict[str, dict]) -> str:
    """The card's weight-space section: the splits (rule and counts) and what the Parquet views cost in bytes
    against the safetensors shards they repeat."""
    split = table["split"] if "split" in table else None
    if split is None or split.isna().all():
        return "This zoo was assembled before rnnzoo wrote splits and Parquet views of the weights."
    counts = []
    for name in SPLITS:
        part = table[split == name]
        counts.append([name, len(part), ", ".join(str(s) for s in sorted(part["seed"].unique())) or "none",
                       int(part["mechanism"].isin(["cycle", "manifold"]).sum())])
    lines = [f"Fixed splits (`split` column; the `weights` and `checkpoints` configs' splits), {SPLIT_RULE}:", "",
             md_table(["split", "networks", "seeds", "learned"], counts), ""]
    shards, view = _bytes_under(files, WEIGHTS_DIR), _bytes_under(files, WEIGHTS_VIEW_DIR)
    if view:
        lines.append(f"The `weights` config (`{WEIGHTS_VIEW_DIR}/SPLIT-NNNNN.parquet`) has one row per network: `id`, "
                     "`split`, hyperparameters (`family`, `delay_ms`, `lr`, `seed`, `alpha`, `n_units`, `steps`), "
                     "`final_accuracy`, `mechanism` (names in the files; a ClassLabel of the codes of `label` in `datasets`) and "
                     "`outcome` (learned / failed / unstable), "
                     "`mechanism_share`, and `W_in` [N, 2], `b_in` [N], `W_rec` [N, N], `b_rec` [N], `W_out` [2, N], "
                     "`b_out` [2] as fixed-size float32 arrays (the safetensors values, bit for bit). It takes "
                     f"{view:,} bytes against {shards:,} bytes of safetensors weight shards "
                     f"({view / max(1, shards):.2f}x).")
    ckpt_shards, ckpt_view = _bytes_under(files, CHECKPOINTS_DIR), _bytes_under(files, CHECKPOINTS_VIEW_DIR)
    if ckpt_view:
        lines.append(f"The `checkpoints` config (`{CHECKPOINTS_VIEW_DIR}/`) has one row per network and checkpoint "
                     "step (`id`, `step`, hyperparameters, `mechanism`, `outcome`, the same weight arrays): "
                     f"{ckpt_view:,} bytes against {ckpt_shards:,} bytes of safetensors checkpoint shards "
                     f"({ckpt_view / max(1, ckpt_shards):.2f}x).")
    elif ckpt_shards:
        lines.append("This zoo's checkpoints are in the safetensors shards only (no `checkpoints` config, to keep it "
                     f"small: {ckpt_shards:,} bytes); `net.checkpoints()` in `rnnzoo` reads them.")
    lines += ["", "`rnnzoo.bench` defines the benchmark tasks on these splits (mechanism, learnability, delay) with "
              "OGB-style evaluators, and `zoo.torch_dataset(...)` serves the weights to PyTorch."]
    return "\n".join(lines)


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def schema_table() -> str:
    """The networks table's columns, their Arrow types and meanings (every column must have one)."""
    missing = [f.name for f in NETWORK_SCHEMA if not COLUMN_MEANINGS.get(f.name)]
    if missing:
        raise ValueError(f"COLUMN_MEANINGS in generation/card.py lacks {missing}; describe every column")
    return md_table(["column", "type", "meaning"],
                    [[f"`{f.name}`", f.type, COLUMN_MEANINGS[f.name]] for f in NETWORK_SCHEMA])


# ---- figures ---------------------------------------------------------------------------------------------------
def card_figures(root: Path) -> tuple[dict[str, str], str]:
    """The figures and phase-statistics table of a zoo whose figures are already drawn, read from its files
    (figures/phases.json, else the count figure): what make_card_figures returned when the card was rendered, so
    a card can be re-rendered (for publication) without drawing anything."""
    numbers_path = root / PHASES_JSON
    if numbers_path.is_file():
        numbers = json.loads(numbers_path.read_text(encoding="utf-8"))
        rank = {key: i for i, key in enumerate(FIGURE_ORDER)}
        figures = {f"{family} {key.replace('_', ' ')}": f"{FIGURES_DIR}/{name}"
                   for family, paths in (numbers.get("figures") or {}).items()
                   for key, name in sorted(paths.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))
                   if (root / FIGURES_DIR / name).is_file()}
        if figures:
            return figures, phase_numbers_table(numbers.get("families") or {})
    if (root / COUNT_FIGURE).is_file():
        return {"mechanism per delay": COUNT_FIGURE}, ""
    raise ZooFormatError(f"{root / FIGURES_DIR} holds no figures of the card; render the card first with "
                         f"`python generation/card.py {root}`")


def phase_numbers_table(results: dict) -> str:
    """The headline phase statistics of each family (rnnzoo.phases.analyse summaries) beside the paper's values."""
    from rnnzoo.phases import PAPER_EXPONENTS

    def exponent(value, ci=None, stderr=None, missing="no fit (too few delays with a critical rate inside the grid)"):
        if value is None:
            return missing
        text = f"T^{value:.2f}" if stderr is None else f"T^({value:.2f} ± {stderr:.2f})"
        if ci and all(isinstance(v, float) for v in ci):
            text += f" (95% bootstrap over seeds [{ci[0]:.2f}, {ci[1]:.2f}])"
        return text

    no_reference_fit = "no fit (fewer than 3 rates where the reference's curve_fit converged)"

    def number(v) -> str:  # JSON numbers: None for NaN, "inf" / "-inf" for the infinities (an open interval)
        return f"{v:.2f}" if isinstance(v, (int, float)) else ("n/a" if v is None else str(v))

    def likelihood(fit):
        if not fit or fit.get("exponent") is None:
            return (fit or {}).get("reason", "no fit")
        return (f"T^({number(fit['exponent'])} ± {number(fit['stderr'])}) ({fit['level']:.0%} {fit['interval']} "
                f"interval [{number(fit['lo'])}, {number(fit['hi'])}]; {fit['n_networks']} networks, "
                f"{fit['n_delays']} lengths)")

    rows = []
    for family, res in results.items():
        s = res.get("summary", {})
        protocol = res.get("protocol", family)
        paper = {k.split("/")[1]: f"T^({v[0]} ± {v[1]})" for k, v in PAPER_EXPONENTS.items()
                 if k.startswith(protocol + "/")}
        unpublished = "not published for this family"
        if protocol == "control":  # reference_control_fit + the likelihood fit on the response length
            ref = res.get("fit") or {}
            rows.append([family, "critical lr against the response length, likelihood fit on the seed counts",
                         likelihood(res.get("likelihood")), paper.get("no_learning", unpublished)])
            rows.append([family, "critical lr against the response length, the reference's estimator (FigureS6)",
                         exponent(ref.get("exponent"), stderr=ref.get("stderr"), missing=no_reference_fit),
                         paper.get("no_learning", unpublished)])
            continue
        for name, words in (("no_learning", "no-learning"), ("slow_point", "slow-point")):
            rows.append([family, f"{words} boundary, likelihood fit on the seed counts (rnnzoo.boundaries)",
                         likelihood((res.get("likelihood_fits") or {}).get(name)), paper.get(name, unpublished)])
        fit_delays = s.get("critical_fit_delays_ms") or []
        delays = (f"delays {', '.join(f'{d:g}' for d in fit_delays)} ms" if fit_delays
                  else "no delay with a critical rate inside the grid")
        rows.append([family, f"critical lr ({s.get('critical_estimator', 'raw')} estimator; {delays})",
                     exponent(s.get("critical_exponent"), s.get("critical_exponent_ci")),
                     paper.get("no_learning", unpublished)])
        rows.append([family, "no-learning boundary, the reference's estimator (curve_fit; ± its stderr)",
                     exponent(s.get("reference_no_learning_exponent"), stderr=s.get("reference_no_learning_stderr"),
                              missing=no_reference_fit), paper.get("no_learning", unpublished)])
        rows.append([family, "slow-point boundary, the reference's estimator (curve_fit; ± its stderr)",
                     exponent(s.get("reference_slow_point_exponent"), stderr=s.get("reference_slow_point_stderr"),
                              missing=no_reference_fit), paper.get("slow_point", unpublished)])
        rows.append([family, "no-learning boundary, rnnzoo's grid-search estimator",
                     exponent(s.get("grid_no_learning_exponent")), paper.get("no_learning", unpublished)])
        rows.append([family, "slow-point boundary, rnnzoo's grid-search estimator",
                     exponent(s.get("grid_slow_point_exponent")), paper.get("slow_point", unpublished)])
    if not rows:
        return ""
    return ("How the critical learning rate scales with the delay in this zoo (`rnnzoo.phases`; every number in "
            "`figures/phases.json`), beside arXiv 2502.17433:\n\n"
            + md_table(["family", "quantity", "this zoo", "paper"], rows))


def adaptive_text(info: dict) -> str:
    """How an adaptive zoo was made (generation/boundaries.py): the stopping rule and, per round, its networks, its
    cost and each boundary's exponent with its standard error against the target."""
    run = info["generation"]["adaptive_run"]
    config = run.get("config", {})
    keys = [b["key"] for b in config.get("boundaries", [])]
    rows = []
    for r in run.get("rounds", []):
        est = r.get("estimates") or {}
        cells = [f"{est[k]['exponent']:.2f} ± {est[k]['stderr']:.3f}" if isinstance(est.get(k, {}).get("exponent"), float)
                 and isinstance(est[k].get("stderr"), float) else "n/a" for k in keys]
        rows.append([r["round"], r.get("kind", ""), len(r.get("networks", [])), f"{r.get('units', 0):,}", *cells,
                     r.get("stop") or "go on"])
    targets = ", ".join(f"{b['key']} {b['target']:g}" for b in config.get("boundaries", []))
    return (f"This zoo was made by the adaptive mode (`generation/run.py --adaptive`): rounds of networks of the paper's "
            f"grid placed where each boundary's exponent was least certain, until every standard error reached its "
            f"target ({targets}) or the budget ({config.get('budget_units', 0):,} units, steps x trial steps) was spent. "
            f"It stopped: {run.get('stop')}, after {run.get('networks', 0):,} networks and {run.get('units', 0):,} "
            f"units. Estimates before each round (likelihood fit, Wald standard error):\n\n"
            + md_table(["round", "kind", "networks", "units", *keys, "stop"], rows))


# ---- the card --------------------------------------------------------------------------------------------------
def render_card(root: str | Path, info: dict | None = None) -> str:
    """Write README.md for the zoo at `root` atomically from what its assembly computed (the manifest info's
    `summary` and the figures folder: generation.summary) and return its text; analyses nothing. `info` is the
    manifest info (preset, generation, versions, summary). The loading examples name the zoo's own folder;
    publish.py renders them for the Hub repository."""
    root = Path(root)
    if info is None:
        info = {k: v for k, v in read_manifest(root).items() if k != "files"}
    text = card_text(root, info)
    write_bytes_atomic(root / CARD, text.encode("utf-8"))
    return text


def with_summary(root: Path, info: dict) -> dict:
    """`info` with the card's numbers and figures (generation.summary.summarise), computed now only where an
    older assembly did not record them."""
    if info.get("summary") is not None and _has_figures(root):
        return info
    from generation.summary import summarise

    return {**info, "summary": summarise(root, _networks(root), info)}


def _has_figures(root: Path) -> bool:
    try:
        card_figures(root)
    except ZooFormatError:
        return False
    return True


def _networks(root: Path) -> pd.DataFrame:
    table_path = root / NETWORKS_TABLE
    if not table_path.is_file():
        raise ZooFormatError(f"{table_path} is missing: assemble the zoo before rendering its card")
    return pd.read_parquet(table_path)


def card_text(root: str | Path, info: dict, figures: dict[str, str] | None = None, phase_numbers: str | None = None,
              repo_id: str | None = None) -> str:
    """The card of the zoo at `root` as text, rendered with huggingface_hub's DatasetCard; writes nothing.

    figures, phase_numbers: the card's figures and phase table (default: read from the zoo's figures folder);
    repo_id: the Hugging Face dataset the card is for ('ORG/NAME': the loading examples name it), else the
    examples load the zoo's own folder."""
    root = Path(root)
    table = _networks(root)
    summary = info.get("summary")
    if summary is None:
        raise ZooFormatError(f"the manifest info of {root} holds no summary of its networks; render the card with "
                             f"`python generation/card.py {root}`, which computes it")
    if figures is None or phase_numbers is None:
        figures, phase_numbers = card_figures(root)
    files = _file_sizes(root)
    urls = project_urls()
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
    meta = front_matter(info.get("preset", preset.get("name", "?")), n, files, root)
    values = {
        "pretty_name": meta.pretty_name,
        "n_networks_text": f"{n:,}",
        "preset": info.get("preset", preset.get("name", "?")),
        "format_version": FORMAT_VERSION,
        "rnnzoo_version": info.get("rnnzoo_version", "?"),
        "torch_version": info.get("torch_version", "?"),
        "code_commit": f"commit {info['code_commit']}" if info.get("code_commit") else "commit unrecorded",
        "layout_table": layout_table(files),
        "schema_table": schema_table(),
        "weightspace_text": weightspace_text(table, files),
        "trials": _trials(root),
        "counts_tables": count_tables(summary["counts"]),
        "label_draws": info.get("labels", {}).get("draws", LABEL_DRAWS),
        "certainty_table": certainty_table(summary["certainty"]),
        "dynamics_table": dynamics_agreement_table(summary["dynamics_agreement"]),
        "numerics_text": numerics_text(generation.get("numerics")),
        "checkpoint_text": checkpoint_text(generation),
        "grid_table": grid_table(preset, table),
        "figures": "\n\n".join([f"![{caption}]({rel})\n\n*Figure: {caption}.*" for caption, rel in figures.items()]
                              + ([phase_numbers] if phase_numbers else [])
                              + ([adaptive_text(info)] if info.get("generation", {}).get("adaptive_run") else [])),
        "devices": ", ".join(devices),
        "extra_limitations": "\n".join(extra),
        "repository_url": urls["Repository"],
        "issues_url": urls["Issues"],
        "install_line": install_line(urls),
        "usage_code": usage_code(root, table, repo_id),
        "verify_text": verify_text(root, repo_id),
    }
    body = string.Template(TEMPLATE.read_text(encoding="utf-8")).substitute(values)
    return str(DatasetCard(f"---\n{meta.to_yaml()}\n---\n\n{body}"))


def numerics_text(numerics: dict | None) -> str:
    """What the card promises about bits, from the generation config's numerics record."""
    if not numerics or numerics.get("cpu") != "pinned":
        why = (numerics or {}).get("cpu", "not recorded (generated before rnnzoo pinned its numerics)")
        return (f"This zoo was trained with CPU numerics {why}: its bits depend on the kind of CPU that trained it; "
                "a regeneration elsewhere agrees to a tolerance only.")
    env = " ".join(f"`{k}={v}`" for k, v in numerics["env"].items())
    return ("Trained with pinned CPU numerics (" + env + "): every network's weights, curves and labels are "
            "bit-identical when regenerated on any x86-64 CPU with AVX2, whatever its vendor or widest vector "
            "unit, with the same torch version. A GPU, or a CPU of another architecture, agrees to a tolerance "
            "only, and training is chaotic: a one-ulp difference grows to ~1e-6 in the weights within 1000 steps "
            "and can change a network near a bifurcation. `Network.simulate()` reproduces the stored final "
            "metrics to 1e-6 on any machine.")


def _example_query(table: pd.DataFrame) -> tuple[int, str]:
    """(delay, mechanism) of the most populated learned cell (cycle or manifold), so the card's example matches
    networks; the most populated cell of any mechanism when none learned."""
    learned = table[table["mechanism"].isin(["cycle", "manifold"])]
    pool = learned if len(learned) else table
    counts = pool.groupby(["delay_ms", "mechanism"]).size().reset_index(name="n")
    best = counts.sort_values(["n", "delay_ms", "mechanism"], ascending=[False, True, True]).iloc[0]
    return int(best["delay_ms"]), str(best["mechanism"])


def _is_sample(root: Path) -> bool:
    from rnnzoo.sources import SAMPLE_DIR

    return root.resolve() == SAMPLE_DIR.resolve()


def usage_code(root: Path, table: pd.DataFrame, repo_id: str | None = None) -> str:
    """The card's loading example: rnnzoo and `datasets` on the Hub repository, the embedded sample or the
    zoo's folder, run from inside it ("."): the card must not depend on where or under which name the folder lies,
    so that rerunning a finished zoo, or copying it, changes no recorded byte."""
    delay, mechanism = _example_query(table)
    if repo_id:
        source, dataset, where = f'"{repo_id}", ', f'"{repo_id}"', "this Hub dataset"
    elif _is_sample(root):
        source, dataset, where = "", "str(rnnzoo.sources.SAMPLE_DIR)", "the sample embedded in rnnzoo"
    else:  # `datasets` needs a named folder ('.' leaves its dataset name empty): the current one, spelled out
        source, dataset, where = '".", ', "str(Path.cwd())", "run inside this folder"
    return "\n".join([
        *(["from pathlib import Path", ""] if dataset == "str(Path.cwd())" else []),
        "import rnnzoo",
        f'zoo = rnnzoo.load({source}delay={delay}, mechanism="{mechanism}")   # {where}; weights load lazily',
        "sim = zoo[0].simulate()   # replays the canonical evaluation exactly",
        "",
        "from datasets import load_dataset",
        f"networks = load_dataset({dataset})   # the networks table (default config)",
        f'curves = load_dataset({dataset}, "curves")   # per-step training curves',
        *([f'weights = load_dataset({dataset}, "weights")   # weights as arrays; splits train / validation / test']
          if "split" in table and table["split"].notna().any() else []),
    ])


def verify_text(root: Path, repo_id: str | None = None) -> str:
    """How to check every file of this zoo against its manifest, for where the card is read."""
    if repo_id:
        return (f'`rnnzoo.verify.verify_zoo(huggingface_hub.snapshot_download("{repo_id}", repo_type="dataset"))` '
                "checks every file of a downloaded copy (`rnnzoo verify` does the same for a folder)")
    if _is_sample(root):
        return "`rnnzoo verify` checks them"
    return "`rnnzoo verify .` (inside this folder) checks them"


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


def split_row(line: str) -> list[str]:
    """The cells of one Markdown table row, split on the `|` that are not escaped."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def table_problems(text: str, where: str) -> list[str]:
    """Markdown tables whose rows do not have one filled cell per header column (an unescaped `|` splits a cell,
    a missing value leaves it empty)."""
    problems, header = [], None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.startswith("|"):
            header = None
            continue
        cells = split_row(line)
        if header is None:
            header = cells
        elif set("".join(cells)) <= set("-: "):
            continue  # the separator row
        elif len(cells) != len(header) or not all(cells):
            problems.append(f"{where}: table row at line {number} has cells {cells} under the columns {header}")
    return problems


OUTSIDE_REFERENCE = re.compile(r"\.\./shared|(?<!docs/)science\.md")  # the authors' workspace, not the repository


def card_text_problems(text: str, where: str) -> list[str]:
    """What a card's text must not hold: unfilled fields or placeholders, broken tables, an install line no index
    serves, references to files outside the repository."""
    problems = []
    if leftover := re.findall(r"\$[a-z_]+", text):
        problems.append(f"{where}: unfilled template fields {sorted(set(leftover))}")
    if "ORG/NAME" in text:
        problems.append(f"{where}: holds the placeholder ORG/NAME (an older rnnzoo rendered it); re-render it with "
                        "`python generation/card.py DIR` (publish.py renders it for the repository it uploads to)")
    if re.search(r"pip install (-U )?rnnzoo\b(?! @)", text):
        problems.append(f"{where}: says `pip install rnnzoo`, which no package index serves; re-render the card "
                        "(its install line comes from [project.urls] in pyproject.toml)")
    problems += [f"{where}: refers to {ref!r}, which is not in the repository (docs/ is)"
                 for ref in sorted(set(OUTSIDE_REFERENCE.findall(text)))]
    return problems + table_problems(text, where)


def card_problems(root: str | Path, files: dict[str, dict] | None = None, card: str | Path | None = None) -> list[str]:
    """What is missing from a zoo's card (root/README.md, or `card`, e.g. one staged for publication): metadata
    fields, template sections, counts, citations, a figure, configs that resolve to the zoo's Parquet files, and
    the text checks of card_text_problems."""
    root = Path(root)
    card = Path(card) if card is not None else root / CARD
    try:
        meta = read_card(card).data.to_dict()
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
    problems += card_text_problems(text, str(card))
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    if not images:
        problems.append(f"{card}: embeds no figure")
    problems += [f"{card}: figure {rel} is missing" for rel in images if not (root / rel).is_file()]
    files = files if files is not None else file_records(root)
    problems += card_config_problems(root, list(files), card)
    return problems


# The manifest a card render replaces, kept (hidden, so never listed) until the new one is written: a render killed
# in between leaves a folder without a manifest, which no reader takes for finished, and its rerun starts from it.
REPLACED_MANIFEST = ".manifest.json.replaced.tmp"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoo", type=Path, help="a finished zoo folder")
    args = parser.parse_args(argv)
    try:
        with FolderLock(args.zoo, create=False):  # never beside a generation or assembly of the same folder
            replaced = args.zoo / REPLACED_MANIFEST
            if not (args.zoo / MANIFEST).is_file() and replaced.is_file():
                os.replace(replaced, args.zoo / MANIFEST)  # a killed render: start again from what it replaced
            remove_debris(args.zoo)  # what a killed card or figures run left: we alone hold the folder now
            manifest = read_manifest(args.zoo)
            damaged = [p for p in verify_zoo(args.zoo) if f"{args.zoo / CARD}" not in p
                       and f"{args.zoo / FIGURES_DIR}/" not in p]
            if damaged:  # re-recording checksums now would bless the damage: refuse, change nothing
                print(f"error: {args.zoo} has damaged or missing files; the card and manifest were left as they "
                      "are:\n  " + "\n  ".join(damaged), file=sys.stderr)
                return 2
            info = {k: v for k, v in manifest.items() if k not in ("files", "format_version")}
            os.replace(args.zoo / MANIFEST, replaced)  # until the new manifest, the folder is not finished
            info = with_summary(args.zoo, info)
            render_card(args.zoo, info)
            write_manifest(args.zoo, info)
            replaced.unlink()
    except (ZooFormatError, FolderInUse, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    problems = card_problems(args.zoo)
    print(f"wrote {args.zoo / CARD}" + ("" if not problems else "; problems:\n  " + "\n  ".join(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
