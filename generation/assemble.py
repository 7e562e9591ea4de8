"""Finish a zoo folder once every job is done: the networks table, the trajectories, the dataset card, then
(last, so a folder with a manifest is complete) the manifest with every checksum.

Assembly runs under the folder's generation lock (generation/run.py). It first withdraws the manifest, so a
folder being reassembled never looks finished, and removes what killed writes left behind. Everything it records
depends on the jobs' data and the code alone (no clock, no local path), so reassembling after a kill, or
rerunning a finished zoo, writes the same bytes."""

from __future__ import annotations

import platform
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from generation.presets import Preset
from generation.summary import FIGURES_DIR  # the card's figures: redrawn whole at each assembly
from generation.jobs import job_paths
from rnnzoo import __version__
from rnnzoo.store import (
    MANIFEST,
    NETWORKS_TABLE,
    network_digests,
    networks_table,
    read_shard,
    write_manifest,
    write_table,
)
from rnnzoo.labels import label_recipe
from rnnzoo.leftovers import remove_debris
from rnnzoo.table import check_networks_table
from rnnzoo.trajectories import write_trajectories
from rnnzoo.views import with_splits, write_networks_views, write_weight_views



def code_commit() -> str | None:
    """The git commit of the generation code ('+dirty' when it has uncommitted changes), or None outside git."""
    import subprocess

    repo = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "rnnzoo", "generation"],
                               cwd=repo, capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def with_weight_digests(root: Path, table: pa.Table) -> pa.Table:
    """The table with its weights_sha256 column filled from the shards themselves (one read of each shard)."""
    frame = table.select(["shard", "row"]).to_pandas()
    digests = np.empty(len(frame), dtype=object)
    for shard, group in frame.groupby("shard", sort=True):
        weights = read_shard(root / shard, group["row"].to_numpy())
        digests[group.index.to_numpy()] = network_digests({k: v.numpy() for k, v in weights.tensors().items()})
    column = table.schema.get_field_index("weights_sha256")
    return table.set_column(column, "weights_sha256", pa.array(list(digests), pa.string()))


def assemble(root: Path, preset: Preset, generation: dict, device: str | torch.device = "cpu") -> dict:
    """Concatenate the job tables into networks.parquet (sorted by id, with the split of each seed), write the
    trajectories (simulated on `device`), the Parquet views of the weights and checkpoints (rnnzoo.views) and the
    dataset card, then manifest.json."""
    from generation.card import render_card
    from generation.summary import summarise

    (root / MANIFEST).unlink(missing_ok=True)  # from here until the new manifest, the folder is not finished
    remove_debris(root)
    shutil.rmtree(root / FIGURES_DIR, ignore_errors=True)
    # Each job table is brought to the current schema first: jobs written by older code (a resumed run) lack the
    # columns added since, which stay null.
    tables = [networks_table(pq.read_table(root / job_paths(job.index)["table"])) for job in preset.jobs()]
    table = with_splits(with_weight_digests(root, pa.concat_tables(tables).sort_by("id")))
    check_networks_table(table, root / NETWORKS_TABLE, fix="the job tables disagree with the preset: delete "
                         "the jobs/ records named and rerun the same command")
    write_table(root / NETWORKS_TABLE, table)
    write_trajectories(root, table.to_pandas(), device=device)
    # The weights (and checkpoints) again as Parquet per split: the card's `weights` / `checkpoints` configs.
    write_weight_views(root, table, checkpoints=preset.parquet_checkpoints)
    write_networks_views(root, table)  # the table per split: the card's `networks` config
    info = {
        "preset": preset.name,
        "generation": generation,
        "n_networks": table.num_rows,
        "labels": label_recipe(),
        "rnnzoo_version": __version__,
        "code_commit": code_commit(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
    }
    info["summary"] = summarise(root, table.to_pandas(), info)  # figures and counts, once: the card formats them
    render_card(root, info)
    return write_manifest(root, info)
