"""`rnnzoo verify`: every file of a zoo against its manifest, and every copy of a network's numbers against what it
derives from (used by the CLI and by publishing).

The manifest's sha256 says a file is the one recorded; it cannot say the recorded file is right, because whoever
alters a file can re-record it. So the copies are checked against each other: each weight shard against the
per-network digests of the networks table, the Parquet views against the same digests (and the checkpoint view
against the checkpoint shards), the curves against the table's ids and step counts, the
stored trajectories against the tasks. Reads only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.parquet as pq

from rnnzoo.dynamics import Weights
from rnnzoo.folder import link_out_error, links_out
from rnnzoo.leftovers import find_debris
from rnnzoo.splits import SPLITS
from rnnzoo.store import (CARD, CHECKPOINTS_VIEW_DIR, MANIFEST, NETWORKS_TABLE, NETWORKS_VIEW_DIR, WEIGHTS_VIEW_DIR,
                          ZooFormatError, card_config_problems, network_digests, read_manifest, shard_arrays,
                          unlisted_files, verify_file)
from rnnzoo.trajectories import TRAJECTORIES_DIR, Trajectories
from rnnzoo.views import CHECKPOINT_META, META_COLUMNS, outcome_of

_FIX = "delete the zoo and re-download it, or rerun the generation command into a new folder"


def verify_zoo(root: str | os.PathLike) -> list[str]:
    """Check every file recorded in the manifest and the card's configs, and look for what does not belong
    (leftovers of killed writes, unlisted files in the data folders), then compare every copy of the
    networks' numbers with what it derives from; returns the problems found (empty when all
    is well). Raises ZooFormatError when the manifest itself is missing, unreadable or of a newer format.
    Reads only: nothing is written or repaired."""
    root = Path(root)
    manifest = read_manifest(root)
    files = manifest["files"]
    links = links_out(root)
    problems = [str(link_out_error(root, [(link, target)])) for link, target in links]
    for rel, record in files.items():
        path = root / rel
        if any(path == link or link in path.parents for link, _ in links):
            continue  # named above; never read through it
        if path.is_file() and path.stat().st_size != record["bytes"]:
            size = path.stat().st_size
            what = "truncated" if size < record["bytes"] else "longer than recorded"
            problems.append(f"{path} is {what}: {size} bytes instead of the recorded {record['bytes']}; delete it "
                            "and re-download it (or rerun generation, which redoes that job)")
            continue
        try:
            verify_file(path, record["sha256"])
        except ZooFormatError as exc:
            problems.append(str(exc))
    problems += [f"{path} is left over from an interrupted write (not part of the zoo); delete it, or rerun the "
                 "generation command, which removes it" for path in find_debris(root)]
    problems += [f"{path} is not listed in {root / MANIFEST}: it is not part of the zoo as recorded; delete it or "
                 "move it out of the zoo folder" for path in unlisted_files(root, files)]
    if CARD in files and (root / CARD).is_file():
        problems.extend(card_config_problems(root, files))
    if not problems and NETWORKS_TABLE in files:  # the files are the recorded ones: do their copies agree?
        problems.extend(copy_problems(root, files))
    return problems



def copy_problems(root: str | os.PathLike, files: dict) -> list[str]:
    """Problems found comparing the copies of each network's numbers in the zoo at `root` (`files`: the
    manifest's records); empty when every copy agrees."""
    root = Path(root)
    try:
        table = pq.read_table(root / NETWORKS_TABLE).to_pandas()
    except Exception as exc:  # a damaged table is already reported by its sha256; nothing to compare against
        return [f"{root / NETWORKS_TABLE} cannot be read ({exc}), so no copy of the weights could be compared with it"]
    problems: list[str] = []
    for check in (_weight_shards, _checkpoint_shards, _curves, _networks_view, _weight_view, _checkpoint_view,
                  _trajectories):
        try:
            problems += check(root, table, files)
        except ZooFormatError as exc:
            problems.append(str(exc))
    return problems


def _trajectories(root: Path, table: pd.DataFrame, files: dict) -> list[str]:
    """Each task's stored trajectories hold exactly its networks, in the shape its task and size give."""
    if f"{TRAJECTORIES_DIR}/zarr.json" not in files:
        return []
    return Trajectories(table, files, fetch=lambda rel: root / rel, name=str(root)).problems()


def _rows_problem(where: Path, n_rows: int, rows: np.ndarray, ids: pd.Series) -> str | None:
    bad = np.flatnonzero((rows < 0) | (rows >= n_rows))
    if bad.size:
        return (f"{where} holds {n_rows} networks, but the networks table points at row {int(rows[bad[0]])} of it "
                f"(network {ids.iloc[bad[0]]}); {_FIX}")
    return None


def _weight_shards(root: Path, table: pd.DataFrame, files: dict) -> list[str]:
    """Each weight shard parses strictly, holds the table's n_units, and every row matches its network's digest."""
    problems = []
    for shard, group in table.groupby("shard", sort=True):
        path = root / shard
        arrays = shard_arrays(path)
        rows = group["row"].to_numpy(np.int64)
        if (problem := _rows_problem(path, arrays["W_rec"].shape[0], rows, group["id"])):
            problems.append(problem)
            continue
        units = arrays["W_rec"].shape[1]
        wrong_units = group.loc[group["n_units"].to_numpy() != units, "id"]
        if len(wrong_units):
            problems.append(f"{path} holds networks of {units} units, but the networks table says "
                            f"{int(group.loc[wrong_units.index[0], 'n_units'])} for {len(wrong_units)} of them (first: "
                            f"{wrong_units.iloc[0]}); {_FIX}")
        digests = network_digests({name: array[rows] for name, array in arrays.items()})
        problems += _digest_mismatch(path, group, digests, "its network(s)")
    return problems


def _digest_mismatch(where: Path, group: pd.DataFrame, digests: list[str], what: str) -> list[str]:
    bad = np.flatnonzero(np.asarray(digests, dtype=object) != group["weights_sha256"].to_numpy(dtype=object))
    if not bad.size:
        return []
    return [f"{where}: {bad.size} of {what} do not match the weights sha256 the networks table records (first: "
            f"{group['id'].iloc[bad[0]]}); this copy was altered or damaged; {_FIX}"]


def _checkpoint_shards(root: Path, table: pd.DataFrame, files: dict) -> list[str]:
    """Each checkpoint shard parses strictly and holds every row the table points at, at the table's n_units;
    a network's last checkpoint, taken at its last step, is its final weights (the digest)."""
    if "checkpoint_shard" not in table or not table["checkpoint_shard"].notna().any():
        return []
    problems = []
    kept = table[table["checkpoint_shard"].notna()]
    for shard, group in kept.groupby("checkpoint_shard", sort=True):
        path = root / shard
        arrays = shard_arrays(path)
        first = group["checkpoint_row"].to_numpy(np.int64)
        counts = np.array([len(steps) for steps in group["checkpoint_steps"]], np.int64)
        last = first + counts - 1
        if (problem := _rows_problem(path, arrays["W_rec"].shape[0], np.r_[first, last], pd.concat(
                [group["id"], group["id"]]))):
            problems.append(problem)
            continue
        if np.any(group["n_units"].to_numpy() != arrays["W_rec"].shape[1]):
            problems.append(f"{path} holds networks of {arrays['W_rec'].shape[1]} units, which the networks table "
                            f"does not record for all of its networks; {_FIX}")
            continue
        ends = np.array([int(steps[-1]) for steps in group["checkpoint_steps"]]) == group["steps"].to_numpy()
        digests = network_digests({name: array[last[ends]] for name, array in arrays.items()})
        problems += _digest_mismatch(path, group[ends], digests, "its last checkpoint(s)")
    return problems


def _curves(root: Path, table: pd.DataFrame, files: dict) -> list[str]:
    """Each curve shard holds exactly the networks the table files under it, once each, one value per step."""
    problems = []
    if "curves" not in table:
        return problems
    for shard, group in table.groupby("curves", sort=True):
        path = root / shard
        curves = pq.read_table(path)
        ids = curves.column("id").to_pylist()
        named = Path(shard).name.split("-")[0]
        if named in SPLITS and "split" in group and (group["split"] != named).any():
            problems.append(f"{path} is the {named} split's curve file but the networks table files networks of "
                            f"other splits under it (first: {group.loc[group['split'] != named, 'id'].iloc[0]}); {_FIX}")
        if sorted(ids) != sorted(group["id"]):
            missing, extra = set(group["id"]) - set(ids), set(ids) - set(group["id"])
            problems.append(f"{path} holds the curves of other networks than the networks table files under it "
                            f"({len(missing)} missing, {len(extra)} not in the table, {len(ids) - len(set(ids))} "
                            f"repeated); {_FIX}")
            continue
        steps = dict(zip(group["id"], group["steps"]))
        for name in curves.column_names[1:]:
            column = curves.column(name)
            if not pa.types.is_list(column.type) or column.type.value_type != pa.float32():
                problems.append(f"{path}: curve {name!r} is stored as {column.type}, not a list of float32; {_FIX}")
                continue
            lengths = pa.compute.list_value_length(column).to_numpy(zero_copy_only=False)
            wrong = [i for i, n in zip(ids, lengths) if n != steps[i]]
            if wrong:
                problems.append(f"{path}: the {name!r} curves of {len(wrong)} network(s) do not hold one value per "
                                f"training step (first: {wrong[0]}, {steps[wrong[0]]} steps); {_FIX}")
    return problems


def view_weights(part: pa.Table, where: Path, n_units: int) -> dict[str, np.ndarray]:
    """The six weight columns of a view file as float32 arrays [rows, ...], refusing any other type or shape."""
    arrays = {}
    for name in Weights.names():
        if name not in part.column_names:
            raise ZooFormatError(f"{where} has no {name} column; it is not an rnnzoo weight view; {_FIX}")
        column = part.column(name).combine_chunks()
        shape = []
        while pa.types.is_fixed_size_list(column.type):
            shape.append(column.type.list_size)
            column = column.flatten()
        if column.type != pa.float32() or len(shape) != (2 if name.startswith("W") else 1):
            raise ZooFormatError(f"{where} stores {name} as {part.column(name).type}, not fixed-size lists of "
                                 f"float32; the view was altered or written by something else; {_FIX}")
        arrays[name] = column.to_numpy(zero_copy_only=False).reshape(part.num_rows, *shape)
    if arrays["W_rec"].shape[1:] != (n_units, n_units):
        raise ZooFormatError(f"{where} holds W_rec of shape {arrays['W_rec'].shape[1:]}, not the table's "
                             f"{n_units} x {n_units}; {_FIX}")
    return arrays


def _views(root: Path, files: dict, folder: str) -> list[str]:
    return sorted(rel for rel in files if rel.startswith(f"{folder}/") and rel.endswith(".parquet"))


def _check_view(root: Path, table: pd.DataFrame, files: dict, folder: str, key: list[str],
                meta: tuple[str, ...], reference: Callable[[pd.DataFrame], list[str]]) -> list[str]:
    """A view's rows: each key once, every network of the table present, its metadata equal to the table's and
    its weights equal (by digest) to what `reference` gives for the same rows."""
    rels = _views(root, files, folder)
    if not rels:
        return []
    by_id = table.set_index("id")
    problems, seen = [], []
    for rel in rels:
        path = root / rel
        part = pq.read_table(path)
        rows = part.select([c for c in part.column_names if c not in Weights.names()]).to_pandas()
        if not set(key) <= set(rows) or not rows["id"].isin(by_id.index).all():
            problems.append(f"{path} holds rows of networks the networks table does not list; {_FIX}")
            continue
        seen.append(rows[key])
        expected = by_id.loc[rows["id"]].reset_index()
        expected["outcome"] = [outcome_of(m) for m in expected["mechanism"]]
        for column in meta:
            if column in ("id", "step") or column not in rows or column not in expected:
                continue
            if not _same(rows[column], expected[column]):
                problems.append(f"{path}: column {column!r} differs from the networks table; {_FIX}")
        n_units = int(expected["n_units"].iloc[0]) if len(expected) else 0
        if len(expected) and (expected["n_units"] != n_units).any():
            problems.append(f"{path} mixes networks of different sizes; {_FIX}")
            continue
        digests = network_digests(view_weights(part, path, n_units))
        expected_digests = reference(rows.assign(**{c: expected[c] for c in expected if c not in rows}))
        bad = np.flatnonzero(np.asarray(digests, dtype=object) != np.asarray(expected_digests, dtype=object))
        if bad.size:
            problems.append(f"{path}: the weights of {bad.size} row(s) differ from the shards they repeat (first: "
                            f"{rows['id'].iloc[bad[0]]}); this copy was altered or damaged; {_FIX}")
    keys = pd.concat(seen, ignore_index=True) if seen else pd.DataFrame(columns=key)
    if keys.duplicated().any():
        problems.append(f"{root / folder} repeats {int(keys.duplicated().sum())} row(s); {_FIX}")
    return problems


def _same(a: pd.Series, b: pd.Series) -> bool:
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    both_missing = a.isna() & b.isna()
    return bool((both_missing | (a == b)).all())


def same_values(a: pa.Table, b: pa.Table) -> bool:
    """True when two tables hold the same columns, types and values, a NaN equal to a NaN in the same cell."""
    if a.schema != b.schema or a.num_rows != b.num_rows:
        return False
    for x, y in zip(a.columns, b.columns):
        if pa.types.is_floating(x.type):
            if not (np.array_equal(x.is_null().to_numpy(), y.is_null().to_numpy()) and np.array_equal(
                    x.to_numpy(), y.to_numpy(), equal_nan=True)):
                return False
        elif not x.equals(y):
            return False
    return True


def _networks_view(root: Path, table: pd.DataFrame, files: dict) -> list[str]:
    """Each NETWORKS_VIEW_DIR/SPLIT.parquet holds exactly the networks table's rows of that split, value for value."""
    rels = sorted(rel for rel in files if rel.startswith(f"{NETWORKS_VIEW_DIR}/"))
    if not rels:
        return []
    whole = pq.read_table(root / NETWORKS_TABLE)
    split = np.asarray(whole.column("split").to_pylist(), dtype=object) if "split" in whole.column_names else None
    problems = []
    for rel in rels:
        name = rel[len(NETWORKS_VIEW_DIR) + 1:].removesuffix(".parquet")
        if split is None or name not in SPLITS:
            problems.append(f"{root / rel} is not a split of the networks table ({', '.join(SPLITS)}); {_FIX}")
            continue
        if not same_values(pq.read_table(root / rel), whole.filter(pa.array(split == name))):
            problems.append(f"{root / rel} differs from the {name} rows of {root / NETWORKS_TABLE}: this copy was "
                            f"altered or damaged; {_FIX}")
    return problems


def _weight_view(root: Path, table: pd.DataFrame, files: dict) -> list[str]:
    problems = _check_view(root, table, files, WEIGHTS_VIEW_DIR, ["id"], META_COLUMNS,
                           lambda rows: list(rows["weights_sha256"]))
    rels = _views(root, files, WEIGHTS_VIEW_DIR)
    if rels:
        listed = set().union(*(pq.read_table(root / rel, columns=["id"]).column("id").to_pylist() for rel in rels))
        missing = set(table["id"]) - listed
        if missing:
            problems.append(f"{root / WEIGHTS_VIEW_DIR} lacks {len(missing)} network(s) of the networks table (first: "
                            f"{sorted(missing)[0]}); {_FIX}")
    return problems


def _checkpoint_view(root: Path, table: pd.DataFrame, files: dict) -> list[str]:
    def shard_digests(rows: pd.DataFrame) -> list[str]:
        out = np.empty(len(rows), dtype=object)
        position = [list(steps).index(step) if step in steps else -1
                    for steps, step in zip(rows["checkpoint_steps"], rows["step"])]
        rows = rows.assign(_row=np.asarray(rows["checkpoint_row"], np.int64) + np.asarray(position, np.int64),
                           _known=np.asarray(position) >= 0)
        out[~rows["_known"].to_numpy()] = "not a checkpoint step of this network"
        for shard, group in rows[rows["_known"]].groupby("checkpoint_shard"):
            arrays = shard_arrays(root / shard)
            picked = group["_row"].to_numpy(np.int64)
            out[group.index.to_numpy()] = network_digests({name: array[picked] for name, array in arrays.items()})
        return list(out)

    return _check_view(root, table, files, CHECKPOINTS_VIEW_DIR, ["id", "step"], CHECKPOINT_META, shard_digests)
