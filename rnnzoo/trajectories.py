"""Stored trajectories: every network's rates and outputs on its canonical trials, as zarr v3 arrays.

Layout (inside a zoo folder; one zarr group per task, i.e. per family, delay and reaction window):

    trajectories/zarr.json                          root group: format version, which trials are stored
    trajectories/<family>/d<delay>-r<reaction>/     group; attribute "ids" lists its networks in row order
        rates/    float32 [M, C, T, N]   chunk = one network, shard = one generation job's networks
        outputs/  float32 [M, C, T, O]

C = one trial per cue: the first trial of each cue class of the canonical evaluation (the random stream that
`Network.simulate()` replays), so `stored.rates == network.simulate().rates[0, stored.trials]`. Networks are
joined to the networks table by id (the group's "ids" attribute), never by position.

This module works on a networks table and a function that fetches a zoo's files; it knows nothing of a Zoo
(Zoo.trajectories() hands it those two).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from rnnzoo.store import FORMAT_VERSION, ZooFormatError, check_format_version, fsync_tree, read_shard
from rnnzoo.task import N_OUTPUTS, Task

TRAJECTORIES_DIR = "trajectories"
ARRAYS = ("rates", "outputs")
ZSTD_LEVEL = 3


def group_name(family: str, delay_ms: float, reaction_ms: float) -> str:
    """The zarr group (relative to trajectories/) holding one task's networks, e.g. 'nopost/d050-r050'."""
    return f"{family}/d{int(delay_ms):03d}-r{int(reaction_ms):03d}"


def canonical_trials(trials_per_class: int, n_classes: int = 2) -> list[int]:
    """Indices of the stored trials in the canonical evaluation batch: the first trial of each cue class."""
    return [c * trials_per_class for c in range(n_classes)]


# ---- writing ---------------------------------------------------------------------------------------------------
def write_trajectories(root: str | os.PathLike, table: pd.DataFrame, device: str | torch.device = "cpu",
                       progress: bool = True) -> list[str]:
    """Simulate every network of `table` on its canonical trials and write trajectories/ (replacing it whole).

    `table` is the networks table (id, family, delay_ms, reaction_ms, seed, alpha, shard, row, job and the task
    columns). Writes go to a temporary folder renamed into place at the end, so an interrupted run leaves no
    half-written store. Returns the relative paths of the files written.
    """
    import zarr
    from tqdm.auto import tqdm
    from zarr.storage import LocalStore

    from rnnzoo.simulation import run_task

    root = Path(root)
    tmp = Path(tempfile.mkdtemp(prefix=f".{TRAJECTORIES_DIR}.", suffix=".tmp", dir=root))
    try:
        first_task = Task.from_row(table.iloc[0])
        trials = canonical_trials(first_task.trials_per_class)
        store = LocalStore(str(tmp))
        top = zarr.open_group(store, mode="w", zarr_format=3, attributes={
            "format_version": FORMAT_VERSION, "trials": trials, "cues": [0, 1],
            "description": "rates and outputs of each network on the first trial of each cue class of its "
                           "canonical evaluation (stream STREAM_EVAL of its seed, noise on); rates[:, :, t] is "
                           "the state before update t and outputs[:, :, t] is read from it"})
        groups = table.sort_values(["shard", "row"]).groupby(["family", "delay_ms", "reaction_ms"], sort=True)
        bar = tqdm(total=len(table), desc="trajectories", unit="net", disable=None if progress else True)  # None: terminal only
        for (family, delay, reaction), group in groups:
            task = Task.from_row(group.iloc[0])
            shard_networks = int(group.groupby("shard").size().max())  # one zarr shard = one weight shard's networks
            ids = group["id"].tolist()
            g = top.create_group(group_name(family, delay, reaction), attributes={
                "ids": ids, "family": family, "delay_ms": int(delay), "reaction_ms": float(reaction),
                "n_steps": task.n_steps, "dt_ms": task.dt_ms, "trials": trials})
            arrays = dict.fromkeys(ARRAYS)
            start = 0
            for shard, part in group.groupby("shard", sort=False):
                weights = read_shard(root / shard, part["row"].to_numpy()).to(device)
                sim = run_task(weights, task, torch.tensor(part["alpha"].to_numpy(np.float32), device=device),
                               part["seed"].tolist())
                values = {"rates": sim.rates[:, trials].cpu().numpy(), "outputs": sim.outputs[:, trials].cpu().numpy()}
                for name, data in values.items():
                    if arrays[name] is None:
                        shape = (len(ids),) + data.shape[1:]
                        arrays[name] = g.create_array(
                            name, shape=shape, dtype="float32", chunks=(1,) + data.shape[1:],
                            shards=(shard_networks,) + data.shape[1:], fill_value=float("nan"),
                            compressors=zarr.codecs.ZstdCodec(level=ZSTD_LEVEL),
                            dimension_names=("network", "trial", "time", "unit" if name == "rates" else "output"))
                    arrays[name][start : start + len(part)] = data.astype(np.float32)
                start += len(part)
                bar.update(len(part))
        bar.close()
        fsync_tree(tmp)  # every chunk durable before the folder takes the place of the old one
        final = root / TRAJECTORIES_DIR
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{TRAJECTORIES_DIR}.old.", dir=root))
            os.replace(final, old / TRAJECTORIES_DIR)
            os.replace(tmp, final)
            shutil.rmtree(old)
        else:
            os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return sorted(p.relative_to(root).as_posix() for p in final.rglob("*") if p.is_file())


# ---- reading ---------------------------------------------------------------------------------------------------
@dataclass
class NetworkTrajectory:
    """One network's stored canonical trials: rates [C, T, N], outputs [C, T, O], their cues and trial indices."""

    id: str
    rates: np.ndarray
    outputs: np.ndarray
    cues: np.ndarray
    trials: np.ndarray


class Trajectories:
    """The stored trajectories of a zoo's networks, indexable by network id (or position); reads on access.

    metadata: the networks table of the networks asked for (id, family, delay_ms, reaction_ms); files: the
    manifest's file records; fetch: the local path of one file of the zoo, fetched and its sha256 checked
    (Zoo.shard_path); name: the zoo's source, for messages.
    """

    def __init__(self, metadata: pd.DataFrame, files: Mapping[str, dict], fetch: Callable[[str], Path],
                 name: str = "this zoo"):
        self._fetch, self.name = fetch, name
        self._groups: dict[str, dict] = {}
        if f"{TRAJECTORIES_DIR}/zarr.json" not in files:
            raise ZooFormatError(
                f"{name} stores no trajectories ({TRAJECTORIES_DIR}/ is not in its manifest; it predates "
                "them or was assembled without them); simulate instead: zoo.simulate() or network.simulate()"
            )
        top = self._json(f"{TRAJECTORIES_DIR}/zarr.json")
        check_format_version(top.get("attributes", {}).get("format_version"), f"{TRAJECTORIES_DIR}/zarr.json")
        meta = metadata
        self._ids = meta["id"].tolist()
        self._group_of = {i: group_name(f, d, r) for i, f, d, r in
                          zip(self._ids, meta["family"], meta["delay_ms"], meta["reaction_ms"])}
        self._rows = {i: row for i, (_, row) in zip(self._ids, meta.iterrows())}  # what each array's shape must be

    # ---- collection --------------------------------------------------------------------------------------------
    @property
    def ids(self) -> list[str]:
        return list(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, network_id: object) -> bool:
        return network_id in self._group_of

    def __iter__(self) -> Iterator[NetworkTrajectory]:
        for network_id in self._ids:
            yield self[network_id]

    def __getitem__(self, key: str | int) -> NetworkTrajectory:
        if isinstance(key, (int, np.integer)):
            if not -len(self) <= key < len(self):
                raise IndexError(f"trajectory index {key} out of range for {len(self)} networks")
            key = self._ids[int(key)]
        if key not in self._group_of:
            raise KeyError(f"no network with id {key!r} in this zoo; ids look like {self._ids[0]!r}")
        name = self._group_of[key]
        group = self._group(name)
        row = group["rows"].get(key)
        if row is None:
            raise ZooFormatError(f"{TRAJECTORIES_DIR}/{name} holds no trajectory for {key!r}; the zoo is inconsistent")
        attrs = group["attrs"]
        values = {array: self._read(name, array, row) for array in ARRAYS}
        return NetworkTrajectory(id=key, rates=values["rates"], outputs=values["outputs"],
                                 cues=np.asarray(attrs.get("cues", [0, 1])[: len(attrs["trials"])]),
                                 trials=np.asarray(attrs["trials"]))

    def stack(self, ids: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Rates [M, C, T, N] and outputs [M, C, T, O] of networks sharing one task (all of these by default)."""
        ids = self._ids if ids is None else list(ids)
        names = {self._group_of[i] for i in ids}
        if len(names) > 1:
            raise ValueError(f"these {len(ids)} networks span {len(names)} tasks with different trial lengths; "
                             "filter the zoo to one delay first (zoo.filter(delay=...))")
        items = [self[i] for i in ids]
        return {"rates": np.stack([t.rates for t in items]), "outputs": np.stack([t.outputs for t in items])}

    def __repr__(self) -> str:
        return f"Trajectories({len(self)} networks, source={self.name!r})"

    def problems(self) -> list[str]:
        """Each task's group against the networks table: its ids are exactly the table's networks of that task,
        and its arrays have the shape, chunks and type the task and the network size give (metadata only)."""
        found = []
        for name in sorted(set(self._group_of.values())):
            try:
                group = self._group(name)
                expected_ids = sorted(i for i, g in self._group_of.items() if g == name)
                if sorted(group["rows"]) != expected_ids:
                    found.append(f"{TRAJECTORIES_DIR}/{name} stores other networks than the networks table's networks "
                                 "of its task; re-download the zoo")
                    continue
                for array in ARRAYS:
                    self._open(name, array)
            except ZooFormatError as exc:
                found.append(str(exc))
        return found

    # ---- files -------------------------------------------------------------------------------------------------
    def _json(self, rel: str) -> dict:
        import json

        path = self._fetch(rel)
        try:
            meta = json.loads(path.read_bytes().decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise ZooFormatError(f"{path} is not valid JSON ({type(exc).__name__}: {exc}); re-download it") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("attributes", {}), dict):
            raise ZooFormatError(f"{path} is not zarr metadata (a JSON object with an 'attributes' object); "
                                 "re-download it")
        return meta

    def _group(self, name: str) -> dict:
        if name not in self._groups:
            meta = self._json(f"{TRAJECTORIES_DIR}/{name}/zarr.json")
            attrs = meta.get("attributes", {})
            ids = attrs.get("ids", [])
            rows = {i: r for r, i in enumerate(ids)}
            if len(rows) != len(ids):
                raise ZooFormatError(f"{TRAJECTORIES_DIR}/{name}/zarr.json lists {len(ids) - len(rows)} network id(s) "
                                     "more than once: a lookup by id could return another network's trajectory; "
                                     "the zoo is inconsistent: re-download it (`rnnzoo verify DIR`)")
            self._groups[name] = {"attrs": attrs, "rows": rows, "arrays": {}}
        return self._groups[name]

    def _expected_shape(self, name: str, array: str) -> tuple[int, ...]:
        """[networks, trials, steps, units or outputs] of one array of a group, from the networks table: the task
        fixes the steps, the table the units; checked before a chunk is read, so a crafted header allocates nothing."""
        group = self._groups[name]
        row = next(self._rows[i] for i, g in self._group_of.items() if g == name)
        task = Task.from_row(row)
        width = int(row["n_units"]) if array == "rates" else N_OUTPUTS
        return (len(group["rows"]), len(group["attrs"].get("trials", [])), task.n_steps, width)

    def _read(self, name: str, array: str, row: int) -> np.ndarray:
        arr = self._open(name, array)
        shard = row // arr.shards[0]
        self._fetch(f"{TRAJECTORIES_DIR}/{name}/{array}/c/{shard}/" + "/".join("0" * (arr.ndim - 1)))  # sha256 checked
        return np.asarray(arr[row])

    def _open(self, name: str, array: str):
        """One array of a group, opened (metadata only) and checked against the task before anything is read."""
        import zarr
        from zarr.storage import LocalStore

        group = self._group(name)
        rel = f"{TRAJECTORIES_DIR}/{name}/{array}"
        if array not in group["arrays"]:
            meta_path = self._fetch(f"{rel}/zarr.json")
            local_root = meta_path.parents[len(Path(rel).parts)]
            group["arrays"][array] = zarr.open_array(LocalStore(str(local_root), read_only=True), path=rel, mode="r")
        arr = group["arrays"][array]
        if arr.dtype != np.float32:
            raise ZooFormatError(f"{rel} stores {arr.dtype}, not float32: it was not written by rnnzoo or was "
                                 "altered; re-download the zoo (`rnnzoo verify DIR`)")
        expected = self._expected_shape(name, array)
        shards = tuple(arr.shards or arr.chunks)
        if tuple(arr.shape) != expected or tuple(arr.chunks) != (1, *expected[1:]) or shards[1:] != expected[1:]:
            raise ZooFormatError(f"{rel} claims shape {tuple(arr.shape)} in chunks of {tuple(arr.chunks)}, but its "
                                 f"networks' task and size give {expected} in chunks of one network: the store "
                                 "was altered or belongs to another zoo; nothing was read. Re-download the zoo "
                                 "(`rnnzoo verify DIR`)")
        return arr

