"""Zoo and Network: query the networks table, load weights lazily from their shards, simulate in batches."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from rnnzoo.cornn import fit_weights
from rnnzoo.devices import checked_device
from rnnzoo.dynamics import Weights, as_alpha
from rnnzoo.query import apply_query
from rnnzoo.refitting import RefitReport, refit_networks
from rnnzoo.simulation import Simulation, run_inputs, run_task
from rnnzoo.sources import Source, resolve_source
from rnnzoo.store import (
    NETWORKS_TABLE,
    shard_arrays,
    read_shard,
    ChecksumError,
    ZooFormatError,
    check_relpath,
    network_digests,
    verify_file,
)
from rnnzoo.table import read_networks_table
from rnnzoo.task import N_INPUTS, N_OUTPUTS, Task

if TYPE_CHECKING:
    from rnnzoo.analysis.classify import TaskGroup

_VERIFIED: set[tuple] = set()  # (path, inode, size, mtime_ns, ctime_ns) of files whose sha256 matched this process


def manifest_record(source: Source, manifest: dict, rel: str) -> dict:
    """The manifest's record {sha256, bytes} of one file, refusing a path outside the zoo or one not listed."""
    check_relpath(rel, f"the networks table of {source.name}")
    record = manifest.get("files", {}).get(rel)
    if record is None:
        raise ZooFormatError(f"{rel} is not listed in the manifest of {source.name}; the zoo is inconsistent: "
                             "re-download it (`rnnzoo verify DIR` lists every problem)")
    return record


def checked_path(source: Source, manifest: dict, rel: str, full: bool = True) -> Path:
    """Local path of one file of the zoo, fetched if remote, checked against its manifest record: its sha256
    (full=True; once per process while the file is unchanged) or its size (full=False)."""
    record = manifest_record(source, manifest, rel)
    path = source.path(rel)
    try:
        stat = path.stat()
    except OSError:
        stat = None
    if stat is not None and stat.st_size != record["bytes"]:
        what = "truncated" if stat.st_size < record["bytes"] else "longer than recorded"
        raise ChecksumError(f"{path} is {what}: {stat.st_size} bytes instead of the recorded {record['bytes']}; "
                            "delete it and re-download it (`rnnzoo verify DIR` lists every damaged file)")
    if stat is not None and not full:
        return path
    key = stat and (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    if key not in _VERIFIED:
        verify_file(path, record["sha256"])
        stat = path.stat()
        _VERIFIED.add((str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns))
    return path


class Zoo:
    """A queryable collection of networks from one source; weights are read only when asked for."""

    def __init__(self, metadata: pd.DataFrame, source: Source, manifest: dict, device: str | torch.device = "cpu",
                 verify: bool = True):
        self._metadata = metadata.reset_index(drop=True)
        self.source = source
        self.manifest = manifest
        self.device = checked_device(device)  # fails here, naming the device, where torch would fail later
        self.verify = verify  # check what is read: each network's sha256 (or, lacking those, each shard's)

    # ---- collection ------------------------------------------------------------------------------------------
    @property
    def metadata(self) -> pd.DataFrame:
        """One row per network: hyperparameters, final metrics, mechanism label, shard and row."""
        return self._metadata

    def __len__(self) -> int:
        return len(self._metadata)

    def __iter__(self) -> Iterator["Network"]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, index: int | slice | Sequence[int] | str) -> "Network | Zoo":
        if isinstance(index, str):
            matches = np.flatnonzero(self._metadata["id"].to_numpy() == index)
            if not matches.size:
                raise KeyError(f"no network with id {index!r} in this zoo; ids look like {self._metadata['id'].iloc[0]!r}")
            return self[int(matches[0])]
        if isinstance(index, (int, np.integer)):
            if not -len(self) <= index < len(self):
                raise IndexError(f"network index {index} out of range for a zoo of {len(self)} networks")
            return Network(self._metadata.iloc[int(index)], zoo=self)
        if isinstance(index, slice):
            return self._subset(self._metadata.iloc[index])
        positions = np.asarray(index)
        if positions.dtype == bool:
            if positions.shape != (len(self),):
                raise IndexError(f"a boolean mask must have one entry per network ({len(self)}), got {positions.shape}")
            return self._subset(self._metadata[positions])
        if positions.size and not np.issubdtype(positions.dtype, np.integer):
            raise TypeError(f"index a zoo with an int, a slice, a list of ints, a boolean mask or an id, not {index!r}")
        if positions.size and (positions.max() >= len(self) or positions.min() < -len(self)):
            raise IndexError(f"network index out of range for a zoo of {len(self)} networks")
        return self._subset(self._metadata.iloc[positions])

    def _subset(self, metadata: pd.DataFrame) -> "Zoo":
        return Zoo(metadata, self.source, self.manifest, self.device, self.verify)

    def filter(self, **query: Any) -> "Zoo":
        """The networks matching every keyword (see rnnzoo.load for the query language)."""
        return self._subset(apply_query(self._metadata, query, what=f"this zoo of {len(self)} networks"))

    def sample(self, n: int, seed: int = 0) -> "Zoo":
        """n networks drawn without replacement, reproducibly."""
        if n > len(self):
            raise ValueError(f"cannot sample {n} networks from a zoo of {len(self)}")
        rows = np.sort(np.random.default_rng(seed).choice(len(self), size=n, replace=False))
        return self._subset(self._metadata.iloc[rows])

    def to(self, device: str | torch.device) -> "Zoo":
        """The same networks, simulated on `device` from now on (DeviceUnavailable at once if it is not here)."""
        return Zoo(self._metadata, self.source, self.manifest, device, self.verify)

    def __repr__(self) -> str:
        if not len(self):
            return f"Zoo(0 networks, source={self.source.name!r})"
        meta = self._metadata
        counts = pd.crosstab(meta["delay_ms"], meta["mechanism"].fillna("unlabelled"), margins=True,
                             margins_name="all")
        if len(counts) > 21:  # keep the repr readable: first and last delays
            counts = pd.concat([counts.iloc[:10], counts.iloc[-11:]])
        return (f"Zoo({len(self)} networks, source={self.source.name!r}); networks per delay_ms x mechanism:\n"
                f"{counts.to_string()}")

    # ---- data ------------------------------------------------------------------------------------------------
    def shard_path(self, rel: str, whole_file: bool = True) -> Path:
        """Local path of a file of the zoo, fetched if remote, its sha256 checked against the manifest once
        (whole_file=False, or verify=False: its size only; weight shards are then checked network by network)."""
        return checked_path(self.source, self.manifest, rel, full=self.verify and whole_file)

    def _record(self, rel: str) -> dict:
        return manifest_record(self.source, self.manifest, rel)

    def weights(self, device: str | torch.device | None = None) -> Weights:
        """The stacked weights [M, ...] of every network, in the zoo's order."""
        if not len(self):
            raise ValueError("this zoo is empty: there are no weights to load")
        # Tables that record a sha256 per network are checked network by network; older ones file by file.
        per_network = "weights_sha256" in self._metadata and bool(self._metadata["weights_sha256"].notna().all())
        codes, shards = pd.factorize(self._metadata["shard"].to_numpy(), sort=True)
        self.source.prefetch(shards)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(shards) + 1))
        rows = self._metadata["row"].to_numpy(dtype=np.int64)
        out: dict[str, np.ndarray] = {}
        for k, shard in enumerate(shards):  # each shard's rows are copied once, straight into their places
            positions = order[bounds[k] : bounds[k + 1]]
            self._record(shard)  # listed in the manifest, inside the zoo
            ranged = self.source.read_rows(shard, rows[positions])  # remote lazy sources read byte ranges
            if ranged is None:
                path = self.shard_path(shard, whole_file=not per_network)
                _read_rows_into(path, rows[positions], positions, out, len(self))
            else:
                _place(ranged, positions, out, len(self))
        if self.verify and per_network:
            self._check_network_digests(out)
        return Weights(**{name: torch.from_numpy(array) for name, array in out.items()}).to(
            checked_device(device) if device is not None else self.device)

    def _check_network_digests(self, arrays: dict[str, np.ndarray]) -> None:
        """Compare each loaded network's weights with its recorded sha256: the cost follows what was asked."""
        expected = self._metadata["weights_sha256"].to_numpy()
        bad = np.flatnonzero(np.asarray(network_digests(arrays), dtype=object) != expected)
        if bad.size:
            row = self._metadata.iloc[int(bad[0])]
            raise ChecksumError(
                f"{bad.size} network(s) read from {row['shard']} (first: {row['id']}) do not match their recorded "
                f"sha256: the shard is damaged; delete it and re-download it (`rnnzoo verify` lists every damaged file)"
            )

    def checkpoints(self, step: int = 0) -> Weights:
        """Every network's weights at one checkpoint step, stacked [M, ...] in the zoo's order: step 0 the initial
        weights (the default), -1 each network's last step. Only the checkpoint shards holding them are read."""
        meta = self._metadata
        if not len(self):
            raise ValueError("this zoo is empty: there are no checkpoints to load")
        if "checkpoint_steps" not in meta or meta["checkpoint_steps"].isna().any():
            raise ValueError(f"{int(meta['checkpoint_steps'].isna().sum()) if 'checkpoint_steps' in meta else len(meta)}"
                             " network(s) of this zoo have no training checkpoints: its preset kept none; generate one "
                             "with `python generation/run.py --preset NAME --checkpoints 2 --out DIR`")
        rows = np.empty(len(meta), np.int64)
        for k, (steps, first) in enumerate(zip(meta["checkpoint_steps"], meta["checkpoint_row"])):
            steps = [int(s) for s in steps]
            if step != -1 and step not in steps:
                raise ValueError(f"network {meta['id'].iloc[k]} has no checkpoint at step {step}; its steps are {steps}")
            rows[k] = int(first) + (len(steps) - 1 if step == -1 else steps.index(step))
        out: dict[str, np.ndarray] = {}
        shards = meta["checkpoint_shard"].to_numpy()
        for shard in sorted(set(shards)):
            positions = np.flatnonzero(shards == shard)
            part = read_shard(self.shard_path(str(shard)), rows[positions])
            _place({k: v.numpy() for k, v in part.tensors().items()}, positions, out, len(meta))
        return Weights(**{name: torch.from_numpy(array) for name, array in out.items()}).to(self.device)

    def split(self, name: str) -> "Zoo":
        """The networks of one fixed benchmark split ('train', 'validation' or 'test'; by seed, rnnzoo.splits)."""
        from rnnzoo.bench import network_splits
        from rnnzoo.splits import check_split

        check_split(name)
        return self[network_splits(self._metadata) == name]

    def torch_dataset(self, target: str = "mechanism", split: str | None = "train", flat: bool = True,
                      permute: bool = False, device: str | torch.device = "cpu", seed: int = 0,
                      initial: Weights | None = None):
        """A torch.utils.data.Dataset of (weights, target) for one rnnzoo.bench task and split (see
        rnnzoo.weightspace.WeightDataset: flat vector or dict, optional random hidden-unit permutations, held on
        `device`; `.classes` names the integer targets)."""
        from rnnzoo.weightspace import WeightDataset

        return WeightDataset(self, target=target, split=split, flat=flat, permute=permute, device=device, seed=seed,
                             initial=initial)

    def curves(self) -> pd.DataFrame:
        """Per-step training curves (loss, accuracy, reliability, grad_norm as lists), one row per network."""
        frames = []
        groups = self._metadata.groupby("curves", sort=True, observed=True)
        self.source.prefetch(groups.groups.keys())
        for rel, group in groups:
            path = self.shard_path(rel)
            try:
                frame = pd.read_parquet(path, filters=[("id", "in", list(group["id"]))])
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise ZooFormatError(f"curve shard {path} cannot be read ({exc}); it is damaged: delete it and "
                                     "re-download it (`rnnzoo verify DIR` lists every damaged file)") from exc
            asked = group["id"].nunique()
            if "id" not in frame or len(frame) != asked or not frame["id"].is_unique:
                raise ZooFormatError(f"curve shard {path} holds {len(frame)} rows for the {asked} networks "
                                     "asked (missing or repeated ids); the zoo is inconsistent: re-download it")
            frames.append(frame)
        return pd.concat(frames).set_index("id").loc[self._metadata["id"]].reset_index()

    @property
    def alpha(self) -> torch.Tensor:
        return torch.tensor(self._metadata["alpha"].to_numpy(dtype=np.float32))

    def tasks(self) -> list[Task]:
        return [Network(row, zoo=self).task() for _, row in self._metadata.iterrows()]

    def simulate(self, task: Task | None = None, noise: bool = True, seeds: Sequence[int] | None = None) -> Simulation:
        """Run every network on its own task at once (the zoo's canonical evaluation by default).

        One Simulation stacks every network, so it needs one task (trial length): with mixed delays pass `task`
        to run them all on it, or use simulate_by_task() to run each task's networks on their own task.
        """
        if not len(self):
            raise ValueError("this zoo is empty: there is nothing to simulate")
        if task is None:
            keys = self._task_keys()
            if len(set(keys)) > 1:
                raise ValueError(
                    f"this zoo mixes {len(set(keys))} tasks (delays or windows), whose trials differ in length; use "
                    "zoo.simulate_by_task() for one Simulation per task, pass task=rnnzoo.Task(delay_ms=...) to run "
                    "all on one task, or filter to one delay first (zoo.filter(delay=...))"
                )
            task = self[0].task()
        seeds = list(self._metadata["seed"]) if seeds is None else seeds
        if len(seeds) != len(self):
            raise ValueError(f"{len(seeds)} seeds given for {len(self)} networks; give one per network or None")
        return run_task(self.weights(), task, self.alpha.to(self.device), seeds, noise_std=_noise(noise))

    def group_by_task(self) -> list[tuple[Task, "Zoo"]]:
        """The zoo split by task (delay, windows, loss weighting): [(task, networks trained on it)], shortest first."""
        columns = [c for c in _TASK_COLUMNS if c in self._metadata.columns]
        groups = []
        for _, frame in self._metadata.groupby(columns, sort=True, dropna=False):
            part = self._subset(frame)
            groups.append((part[0].task(), part))
        return groups

    def simulate_by_task(self, noise: bool | float = True) -> list[tuple[Task, "Zoo", Simulation]]:
        """Every network on its own task, one batched simulation per task: [(task, networks, Simulation)].

        Mixed-delay zoos cannot share one [M, B, T, ...] tensor (T differs), so results come per task rather than
        padded; each Simulation's rows follow its sub-zoo's order (zoo.metadata of that group).
        """
        return [(task, part, part.simulate(task=task, noise=noise)) for task, part in self.group_by_task()]

    def _task_keys(self) -> list[tuple]:
        meta = self._metadata
        columns = [c for c in _TASK_COLUMNS if c in meta.columns]
        return list(meta[columns].itertuples(index=False, name=None))

    # ---- analysis, refit and stored trajectories live in their own modules --------------------------------------
    def task_groups(self, use_curves: bool = True) -> list["TaskGroup"]:
        """The networks as rnnzoo.analysis TaskGroups, one per task (weights, alpha, seeds, ids, and the outcome of
        each network's training curves unless use_curves=False): what the analysis reads instead of a Zoo."""
        from rnnzoo.analysis.classify import TaskGroup
        from rnnzoo.labels import training_outcome

        meta = self._metadata
        if not len(meta):
            raise ValueError("this zoo is empty: there is nothing to classify")
        curves = self.curves().set_index("id") if use_curves and "curves" in meta.columns else None
        groups = []
        keys = self._task_keys()
        for key in dict.fromkeys(keys):
            pos = [i for i, k in enumerate(keys) if k == key]
            sub = self[pos]
            outcomes = None
            if curves is not None:
                outcomes = [training_outcome(curves.loc[i, "accuracy"], curves.loc[i, "reliability"])
                            for i in sub.metadata["id"]]
            groups.append(TaskGroup(weights=sub.weights(), task=sub[0].task(), alpha=sub.alpha,
                                    seeds=list(sub.metadata["seed"].astype(int)),
                                    ids=list(sub.metadata["id"].astype(str)), outcomes=outcomes, positions=pos))
        return groups

    def classify(self, **kwargs: Any):
        """Mechanism label and diagnostics of every network (see rnnzoo.analysis.classify)."""
        from rnnzoo.analysis import classify

        return classify(self, **kwargs)

    def refit(self, *, noise: float = 0.0, observed_fraction: float = 1.0, trials: int = 256,
              device: str | torch.device | None = None, **options: Any) -> pd.DataFrame:
        """CORNN refit of every network from its own simulated activity, in one batched fit; one row per network.

        Columns: the RefitReport fields (see rnnzoo.refitting), mechanism_stored (the zoo's stored label: training
        curves + the reference PSD test), dynamics_label_stored (the stored dynamics_label, training curves
        included) where the zoo has it, and refit (the refit as a Network on the network's own task).
        """
        if not len(self):
            raise ValueError("this zoo is empty: there is nothing to refit")
        meta = self._metadata
        reports = refit_networks(self.weights(device), self.tasks(), meta["alpha"].astype(float).tolist(),
                                 meta["seed"].astype(int).tolist(), meta["id"].astype(str).tolist(), noise=noise,
                                 observed_fraction=observed_fraction, trials=trials, **options)
        table = pd.DataFrame([_with_network(r).to_dict() for r in reports])
        table["mechanism_stored"] = meta["mechanism"].to_numpy()
        if "dynamics_label" in meta:  # the stored dynamics_label, with the training curves' outcome
            table["dynamics_label_stored"] = meta["dynamics_label"].to_numpy()
        table["refit"] = [r.network for r in reports]
        return table

    def trajectories(self):
        """The stored canonical-trial trajectories of these networks, read lazily (see rnnzoo.trajectories)."""
        from rnnzoo.trajectories import Trajectories

        return Trajectories(self._metadata, self.manifest.get("files", {}), self.shard_path, self.source.name)


def _real_array(name: str, value: Any) -> torch.Tensor:
    """One weight as a float32 tensor, refusing text, ragged lists and complex numbers with a message naming it."""
    try:
        array = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} is not a rectangular array of numbers ({exc})") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got an array of {array.dtype} ({array.dtype.kind!r}); "
                         "pass floats (complex weights: take .real only if that is what you mean)")
    return torch.as_tensor(array, dtype=torch.float32)


def _noise(noise: bool | float) -> float:
    from rnnzoo.dynamics import NOISE_STD

    if isinstance(noise, bool):
        return NOISE_STD if noise else 0.0
    try:
        value = float(noise)
    except (TypeError, ValueError):
        value = float("nan")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"noise must be True (the training noise, std {NOISE_STD}), False (none) or a finite "
                         f"standard deviation >= 0, got {noise!r}")
    return value


_TASK_COLUMNS = ("delay_ms", "cue_ms", "reaction_ms", "post_ms", "dt_ms", "weighted_loss", "cue_held", "target_held",
                 "readout")


def _read_rows_into(path: Path, rows: np.ndarray, positions: np.ndarray, out: dict[str, np.ndarray],
                    total: int) -> None:
    """Copy rows of one shard into out[name][positions] (allocated [total, ...] on first use); only the pages
    holding those rows are read from disk."""
    arrays = shard_arrays(path)
    if rows.size and (rows.min() < 0 or rows.max() >= arrays["W_rec"].shape[0]):
        raise ZooFormatError(f"the networks table points at row {int(rows.max())} of {path}, which holds "
                             f"{arrays['W_rec'].shape[0]} networks; the table and the shard disagree")
    _place({name: array[rows] for name, array in arrays.items()}, positions, out, total)


def _place(parts: dict[str, np.ndarray], positions: np.ndarray, out: dict[str, np.ndarray], total: int) -> None:
    for name, array in parts.items():
        if name not in out:
            out[name] = np.empty((total, *array.shape[1:]), dtype=array.dtype)
        out[name][positions] = array


class Network:
    """One network: its hyperparameters, its weights (loaded on first use) and what can be done with them."""

    def __init__(self, row: pd.Series | dict, zoo: Zoo | None = None, weights: Weights | None = None):
        self.info = pd.Series(row)
        self.zoo = zoo
        self._weights = weights
        self._recording: tuple[torch.Tensor, torch.Tensor] | None = None  # (inputs, r0) a task-free refit replays

    @classmethod
    def from_weights(cls, *, W_rec: Any, W_in: Any, W_out: Any, b_rec: Any = None, b_in: Any = None,
                     b_out: Any = None, alpha: float = 0.5, delay_ms: float = 0.0, seed: int = 0,
                     **task_fields: Any) -> "Network":
        """A Network from raw weights (torch.nn.Linear convention: W_in [N, I], W_rec [N, N], W_out [O, N])."""
        raw = {"W_rec": W_rec, "W_in": W_in, "W_out": W_out, "b_rec": b_rec, "b_in": b_in, "b_out": b_out}
        tensors = {k: None if v is None else _real_array(k, v) for k, v in raw.items()}
        for name in ("W_rec", "W_in", "W_out"):
            if tensors[name] is None:
                raise ValueError(f"{name} is required (a 2-D array); only the biases may be left out (zeros)")
            if tensors[name].ndim != 2:
                raise ValueError(f"{name} must be a 2-D matrix, got shape {tuple(tensors[name].shape)}")
        N = tensors["W_rec"].shape[0]
        if N < 1 or tensors["W_rec"].shape != (N, N):
            raise ValueError(f"W_rec must be a square [N, N] matrix with N >= 1, got shape {tuple(tensors['W_rec'].shape)}")
        for name, expected in (("W_in", (N, N_INPUTS)), ("W_out", (N_OUTPUTS, N))):
            shape = tuple(tensors[name].shape)
            if shape != expected:
                hint = " (it looks transposed: pass its .T)" if shape == expected[::-1] else ""
                raise ValueError(f"{name} must be {list(expected)} for {N} units and the task's {N_INPUTS} inputs "
                                 f"and {N_OUTPUTS} outputs (torch.nn.Linear convention: out x in), got "
                                 f"{list(shape)}{hint}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a whole number >= 0 (it picks the simulation's random streams), got {seed!r}")
        fields = {f.name for f in dataclasses.fields(Task)} - {"delay_ms"}
        unknown = sorted(set(task_fields) - fields)
        if unknown:
            raise ValueError(f"unknown task field(s) {unknown}; Network.from_weights takes the weights, alpha, "
                             f"delay_ms, seed and the task fields {sorted(fields)}")
        defaults = {"b_rec": N, "b_in": N, "b_out": tensors["W_out"].shape[0]}
        for name, size in defaults.items():
            if tensors[name] is None:
                tensors[name] = torch.zeros(size)
        for name, t in tensors.items():
            if not torch.isfinite(t).all():
                raise ValueError(f"{name} contains NaN or infinite values; pass finite weights")
        weights = Weights(**{k: v.unsqueeze(0) for k, v in tensors.items()})
        as_alpha(alpha, 1, weights.W_rec)
        task = Task(delay_ms=delay_ms, **task_fields)
        row = {"id": "custom", "family": "custom", "delay_ms": delay_ms, "lr": float("nan"), "seed": seed,
               "n_units": N, "alpha": float(alpha), "dt_ms": task.dt_ms, "cue_ms": task.cue_ms,
               "reaction_ms": task.reaction_ms, "post_ms": task.post_ms, "weighted_loss": task.weighted,
               "cue_held": task.cue_held, "target_held": task.target_held, "readout": task.readout,
               "mechanism": None}
        return cls(row, zoo=None, weights=weights)

    def __getattr__(self, name: str) -> Any:
        if hasattr(type(self), name):  # a property that raised AttributeError inside: let that error through
            return object.__getattribute__(self, name)
        info = self.__dict__.get("info")
        if info is not None and name in info.index:
            value = info[name]
            return value.item() if hasattr(value, "item") else value
        raise AttributeError(f"Network has no attribute {name!r}")

    def __repr__(self) -> str:
        return (f"Network({self.info['id']!r}, delay_ms={self.info['delay_ms']}, lr={self.info['lr']:.4g}, "
                f"seed={self.info['seed']}, mechanism={self.info.get('mechanism')!r})")

    @property
    def weights(self) -> Weights:
        """Weights as a stack of one network, [1, ...]."""
        if self._weights is None:
            if self.zoo is None:
                raise ValueError(f"network {self.info.get('id')!r} has neither weights nor a zoo to read them from; "
                                 "take networks from rnnzoo.load(...) or build one with Network.from_weights(...)")
            self._weights = self.zoo[[self._position()]].weights()
        return self._weights

    def _position(self) -> int:
        return int(np.flatnonzero(self.zoo.metadata["id"].to_numpy() == self.info["id"])[0])

    def checkpoints(self) -> tuple[list[int], Weights]:
        """The training checkpoints: (steps, weights [K, ...]) with step 0 the initial weights and the last the final
        ones, at log-spaced steps in between (only the checkpoint shard holding this network is read)."""
        steps = self.info.get("checkpoint_steps")
        if self.zoo is None or steps is None or (not isinstance(steps, (list, np.ndarray))) or len(steps) == 0:
            raise ValueError(f"{self.info.get('id')} has no training checkpoints: this zoo's preset kept none; "
                             "generate one with `python generation/run.py --preset NAME --checkpoints 2 --out DIR`")
        steps = [int(s) for s in steps]
        first = int(self.info["checkpoint_row"])
        path = self.zoo.shard_path(str(self.info["checkpoint_shard"]))
        return steps, read_shard(path, list(range(first, first + len(steps))))

    @property
    def has_task(self) -> bool:
        """False for a refit of a recording made without a task: it runs on inputs, not on a task."""
        return self._recording is None

    def task(self, **overrides: Any) -> Task:
        """The task this network was trained on (fields can be overridden, e.g. delay_ms=...)."""
        if not self.has_task:
            raise ValueError(f"{self.info.get('id')} was refit from a recording without a task, so it has none: run it "
                             "with net.simulate() (the recorded inputs) or net.simulate(inputs=...), or refit with "
                             "task=rnnzoo.Task(...), delay_ms=... or network=... to get a network on the zoo's task")
        return Task.from_row(self.info, **overrides)

    def simulate(self, task: Task | None = None, noise: bool | float = True, seed: int | None = None,
                 device: str | torch.device | None = None, *, inputs: Any = None, r0: Any = None) -> Simulation:
        """Run the network on its task (every trial), or on `inputs` ([trials, T, I]) when given. The default
        random stream is the zoo's canonical evaluation, so `simulate().accuracy` reproduces the stored
        final_accuracy. A network refit without a task runs on the inputs it was fitted with, from the recorded
        first rates; on inputs there is no task, so targets, loss, accuracy and reliability are NaN. r0 ([trials, N]):
        initial rates for a run on inputs (default: the recorded ones where the inputs are, else drawn)."""
        seed = int(self.info["seed"]) if seed is None else seed
        weights = self.weights.to(checked_device(device) if device is not None else (self.zoo.device if self.zoo else "cpu"))
        if inputs is None and task is None and not self.has_task:
            inputs, recorded_r0 = self._recording
            r0 = recorded_r0 if r0 is None else r0
        if inputs is not None:
            if task is not None:
                raise ValueError("pass either task=... or inputs=..., not both")
            readout = self.info.get("readout") if isinstance(self.info.get("readout"), str) else "sigmoid"
            return run_inputs(weights, inputs, float(self.info["alpha"]), [seed], r0=r0, noise_std=_noise(noise),
                              readout=readout)
        return run_task(weights, task or self.task(), float(self.info["alpha"]), [seed], noise_std=_noise(noise))

    def task_groups(self, use_curves: bool = True) -> list["TaskGroup"]:
        """This network as one rnnzoo.analysis TaskGroup (its training curves' outcome unless use_curves=False)."""
        from rnnzoo.analysis.classify import TaskGroup
        from rnnzoo.labels import training_outcome

        info = self.info
        outcomes = None
        if use_curves and self.zoo is not None and "curves" in info.index:
            c = self.zoo[[self._position()]].curves().iloc[0]
            outcomes = [training_outcome(c["accuracy"], c["reliability"])]
        return [TaskGroup(weights=self.weights, task=self.task(), alpha=[float(info["alpha"])],
                          seeds=[int(info["seed"])], ids=[str(info["id"])], outcomes=outcomes, positions=[0])]

    def classify(self, **kwargs: Any):
        """Mechanism label and diagnostics of this network (see rnnzoo.analysis.classify)."""
        from rnnzoo.analysis import classify

        return classify(self, **kwargs)

    def refit(self, *, noise: float = 0.0, observed_fraction: float = 1.0, trials: int = 256,
              device: str | torch.device | None = None, **options: Any) -> RefitReport:
        """Simulate this network on its task, refit it with CORNN and report the refit's quality.

        noise: std of observation noise added to the recorded rates; observed_fraction: the share of units
        recorded; every 5th of `trials` trials is held out. The report's `network` is the refit, on this task.
        Other options go to rnnzoo.cornn.fit_weights. See rnnzoo.refitting.RefitReport for the fields.
        """
        weights = self.weights.to(checked_device(device)) if device is not None else self.weights
        report = refit_networks(weights, [self.task()], [float(self.info["alpha"])], [int(self.info["seed"])],
                                [str(self.info["id"])], noise=noise, observed_fraction=observed_fraction,
                                trials=trials, **options)[0]
        return _with_network(report)

    def to_module(self) -> torch.nn.Module:
        """A torch.nn.Module with this network's weights as trainable parameters."""
        from rnnzoo.module import RNN

        return RNN.from_weights(self.weights, alpha=float(self.info["alpha"]), readout=self.task().readout)


def _refit_network(weights: Weights, alpha: float, task: Task, seed: int, name: str, info: dict[str, Any]
                   ) -> Network:
    """A Network from a refit stack of one network, on `task`, with what the fit reported in its info."""
    fields = {k: v for k, v in task.to_dict().items() if k not in ("delay_ms", "trials_per_class")}
    net = Network.from_weights(**{k: v[0].detach().cpu() for k, v in weights.tensors().items()}, alpha=float(alpha),
                               delay_ms=task.delay_ms, seed=int(seed), **fields)
    net._weights = weights  # keep the device the fit ran on
    net.info["id"] = name
    net.info["family"] = "refit"
    for key, value in info.items():
        net.info[key] = value
    return net


def _with_network(report: RefitReport) -> RefitReport:
    report.network = _refit_network(report.weights, report.alpha, report.task, report.seed, f"{report.id}-refit",
                                    {"readout_refitted": True, "refit_iterations": report.iterations,
                                     "refit_converged": report.converged, "refit_diverged": report.diverged,
                                     "refit_l2": report.l2,
                                     "observed_units": report.observed})
    return report


def refit(rates: Any, inputs: Any = None, alpha: Any = None, *, task: Task | None = None,
          delay_ms: float | None = None, network: "Network | None" = None, outputs: Any = None,
          seed: int | None = None, **options: Any) -> "Network | list[Network]":
    """Fit a leaky tanh RNN to recorded rates with CORNN; a Network (a list for a stack of recordings).

    rates: [T, N], [trials, T, N] or [networks, trials, T, N] in [-1, 1]; inputs: the same layout with I channels
    (None: no inputs); `net.simulate()` output fits as it is: refit(sim.rates[0], sim.inputs[0], network=net).
    alpha = dt / tau: one value or one per network (required unless `network` gives it).
    With the zoo's task (task=rnnzoo.Task(...), delay_ms=... for default timings, or network=..., the recorded
    Network, which also gives alpha and the seed) the refit simulates and classifies on that task (inputs: the
    task's 2 channels, or None). Without one it is a task-free network for any recording (any number of input
    channels): net.simulate() replays the recorded inputs from the recorded first rates, net.simulate(inputs=...)
    runs it on others, and net.task() and classify() say it has no task. outputs (optional, the layout of rates
    with O channels, in (0, 1)) fit the readout; without them W_out = 0 and info["readout_refitted"] is False.
    Options go to rnnzoo.cornn.fit_weights (noise, l2, outlier_threshold, self_connections, connectivity,
    iterations, ...); per-neuron alpha needs fit_weights itself, since a Network has one alpha. Each Network's
    info holds refit_iterations, refit_converged, refit_diverged and refit_l2; unconverged or diverged fits warn.
    """
    if network is not None:
        alpha = float(network.info["alpha"]) if alpha is None else alpha
        task = network.task() if task is None and delay_ms is None and network.has_task else task
        seed = int(network.info["seed"]) if seed is None else seed
    if task is None and delay_ms is not None:
        task = Task(delay_ms=float(delay_ms))
    elif task is not None and delay_ms is not None and float(delay_ms) != task.delay_ms:
        raise ValueError(f"task has delay_ms={task.delay_ms} but delay_ms={delay_ms} was given; pass one of them")
    shape = tuple(getattr(rates, "shape", np.shape(rates)))
    n_inputs = None if inputs is None else tuple(getattr(inputs, "shape", np.shape(inputs)))[-1]
    if task is not None and n_inputs not in (None, N_INPUTS):
        raise ValueError(f"the task has {N_INPUTS} input channels but inputs have {n_inputs}: pass the task's inputs "
                         "(or None), or leave task, delay_ms and network out for a task-free refit of any recording")
    weights, info = fit_weights(rates, inputs, alpha, outputs=outputs, **options)
    M = weights.n_networks
    a = torch.as_tensor(alpha, dtype=torch.float64).reshape(-1)
    if a.numel() not in (1, M):
        raise ValueError(f"alpha has {a.numel()} values for {M} networks: a Network has one alpha, so pass one value "
                         "or one per network (per-neuron alpha: use rnnzoo.cornn.fit_weights, which returns Weights)")
    if task is not None and weights.n_inputs == 0:  # no recorded inputs: the task's channels get zero weights
        weights = dataclasses.replace(weights, W_in=weights.W_rec.new_zeros(M, weights.n_units, N_INPUTS))
    alphas = a.expand(M).tolist()
    networks = []
    for m in range(M):
        details = {"readout_refitted": outputs is not None, "refit_iterations": info.iterations[m],
                   "refit_converged": info.converged[m], "refit_diverged": info.diverged[m], "refit_l2": info.l2[m],
                   "refit_clipped": info.clipped[m], "refit_outliers": info.outliers[m],
                   "refit_seconds": info.seconds}
        one = weights.select(m)
        if task is not None:
            networks.append(_refit_network(one, alphas[m], task, 0 if seed is None else seed, "refit", details))
        else:
            networks.append(_task_free_network(one, alphas[m], 0 if seed is None else seed, details,
                                               _recorded(rates, inputs, m, one)))
    return networks if len(shape) == 4 else networks[0]


def _recorded(rates: Any, inputs: Any, m: int, weights: Weights) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs [B, T, I], first rates [B, N]) of recording m, as a task-free refit replays them."""
    r = torch.as_tensor(np.asarray(rates) if not isinstance(rates, torch.Tensor) else rates)
    r = r.reshape(-1, *r.shape[-3:]) if r.ndim >= 3 else r.reshape(1, 1, *r.shape)
    r = r[m if r.shape[0] > 1 else 0].to(weights.device, weights.dtype).clamp(-1.0, 1.0)
    if inputs is None:
        u = r.new_zeros(*r.shape[:2], weights.n_inputs)
    else:
        u = torch.as_tensor(np.asarray(inputs) if not isinstance(inputs, torch.Tensor) else inputs)
        u = u.reshape(-1, *u.shape[-3:]) if u.ndim >= 3 else u.reshape(1, 1, *u.shape)
        u = u[m if u.shape[0] > 1 else 0].to(weights.device, weights.dtype)
    return u, r[:, 0]


def _task_free_network(weights: Weights, alpha: float, seed: int, info: dict[str, Any],
                       recording: tuple[torch.Tensor, torch.Tensor]) -> Network:
    """A Network from a refit without a task: it runs on inputs (the recorded ones by default), not on a task."""
    row = {"id": "refit", "family": "refit", "delay_ms": float("nan"), "lr": float("nan"), "seed": int(seed),
           "n_units": weights.n_units, "alpha": float(alpha), "readout": "sigmoid", "mechanism": None, **info}
    net = Network(row, zoo=None, weights=weights)
    net._recording = recording
    return net


def load(source: str | os.PathLike | Source | None = None, revision: str | None = None, *, verify: bool = True,
         **query: Any) -> Zoo:
    """Open a zoo and select networks.

    source: None for the embedded sample, a folder, a Hugging Face dataset repo id ('ORG/NAME') or an
    'hf://datasets/ORG/NAME[@REVISION]' path; revision pins a Hub commit, branch or tag.
    query: any column of the networks table (aliases: delay -> delay_ms, learning_rate -> lr, ...) with an exact
    value, a list (any of), a (low, high) range (inclusive), or a callable on the column; mechanism accepts
    aliases; float columns such as lr match to a relative tolerance of 1e-3.
    Only the manifest and the networks table are read here; weight shards are fetched and read on first use. The
    networks table is checked against its manifest sha256 (it holds the per-network digests, so it must be
    trusted), then for well-formed columns and unique ids. Every network read is checked against its recorded
    weights_sha256 (tables without that column: each shard against its manifest sha256, once per process); every
    other file read against its manifest sha256. verify=False checks sizes and headers only.
    """
    src = resolve_source(source, revision)
    manifest = src.manifest()
    table = read_networks_table(checked_path(src, manifest, NETWORKS_TABLE, full=verify),
                                fix=f"re-download it or check the zoo with `rnnzoo verify {src.name}`")
    zoo = Zoo(table, src, manifest, verify=verify)
    return zoo.filter(**query) if query else zoo
