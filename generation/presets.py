"""The registry of zoo grids: named presets made of protocol families, cut into deterministic jobs.

A family is one training protocol (docs/science.md): "nopost" (the paper's broad and narrow grids),
"post" (30 ms post-reaction window, steps max(1000, 100/lr)), "longtau" (tau = 20 ms) and "control" (no memory, as
the reference's train_parallel_fixed.py: cue for 30 ms, no delay, a response window of R ms, the target held over
the whole trial, a linear readout, plain loss weights, 3000 steps, early stop when the loss exceeds 100; labelled
learned / failed only). A network's id depends only on its protocol, delay, learning rate and seed, so the same
network has the same id (and the same weights) in every preset that contains it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterator

import numpy as np

from rnnzoo.task import Task

BROAD_LRS = tuple(float(x) for x in np.logspace(-1, -3, 15))
NARROW_LRS = tuple(float(x) for x in np.logspace(-0.5, -2, 20)[:15])
ALL_LRS = tuple(sorted(set(BROAD_LRS) | set(NARROW_LRS), reverse=True))
PAPER_DELAYS = tuple(range(0, 401, 20))
FULL_DELAYS = tuple(range(0, 401, 10))


# Family fields added after zoos were generated: left out of a preset's config while at their defaults, so a folder
# claimed by older code still resumes (generation/run.py compares configs) and its manifest stays the same.
_NEW_FIELDS = {"target_held": False, "readout": "sigmoid", "stop_loss": None}


@dataclass(frozen=True)
class Family:
    """One training protocol over a grid of delays x learning rates x seeds."""

    name: str
    delays_ms: tuple[int, ...]
    lrs: tuple[float, ...]
    seeds: tuple[int, ...]
    reactions_ms: tuple[float, ...] = (50.0,)
    post_ms: float = 0.0
    tau_ms: float = 10.0
    dt_ms: float = 5.0
    cue_ms: float = 30.0
    weighted: bool = True
    cue_held: bool = False
    target_held: bool = False  # the target is the cue's one-hot over the whole trial (no-memory control)
    readout: str = "sigmoid"  # "linear" for the no-memory control (rnnzoo.dynamics.readout)
    stop_loss: float | None = None  # a network whose loss exceeds this stops (the control's 100)
    n_units: int = 100
    steps_numerator: float = 30.0
    steps_min: int = 1000
    steps_fixed: int | None = None
    paper_delay_grid_ms: float = 20.0  # the reference writes delays as l * grid (0.040 s for the long-tau family)

    @property
    def alpha(self) -> float:
        return self.dt_ms / self.tau_ms

    def steps(self, lr: float) -> int:
        if self.steps_fixed is not None:
            return self.steps_fixed
        return int(max(self.steps_min, self.steps_numerator / lr))

    def task(self, delay_ms: float, reaction_ms: float) -> Task:
        return Task(delay_ms=delay_ms, cue_ms=self.cue_ms, reaction_ms=reaction_ms, post_ms=self.post_ms,
                    dt_ms=self.dt_ms, weighted=self.weighted, cue_held=self.cue_held, target_held=self.target_held,
                    readout=self.readout)

    @property
    def size(self) -> int:
        return len(self.delays_ms) * len(self.reactions_ms) * len(self.lrs) * len(self.seeds)


def network_id(family: str, delay_ms: float, lr: float, seed: int, reaction_ms: float = 50.0) -> str:
    """Stable id of a network, e.g. 'nopost-d050-lr1.000e-01-s007' (control networks add '-r<reaction ms>')."""
    rid = "" if reaction_ms == 50.0 else f"-r{int(reaction_ms):03d}"
    return f"{family}-d{int(delay_ms):03d}{rid}-lr{lr:.3e}-s{seed:03d}"


@dataclass(frozen=True)
class NetworkSpec:
    id: str
    family: Family
    delay_ms: int
    reaction_ms: float
    lr: float
    seed: int

    @property
    def steps(self) -> int:
        return self.family.steps(self.lr)


@dataclass(frozen=True)
class Job:
    """A deterministic slice of a preset: networks of one family, delay and reaction window (one task)."""

    index: int
    family: Family
    delay_ms: int
    reaction_ms: float
    networks: tuple[NetworkSpec, ...]

    @property
    def task(self) -> Task:
        return self.family.task(self.delay_ms, self.reaction_ms)

    @property
    def network_steps(self) -> int:
        return sum(n.steps for n in self.networks)


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    families: tuple[Family, ...]
    max_networks_per_job: int = 100
    checkpoint_factor: int | None = None  # keep weights at 0, 1, f, f^2, ... steps and the final (None: no checkpoints)
    checkpoint_first: int = 1  # the first checkpoint after step 0 (then first * f, first * f^2, ...)
    parquet_checkpoints: bool = True  # also write the checkpoints as Parquet (config `checkpoints`; doubles their bytes)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.families)

    def jobs(self) -> list[Job]:
        return list(self._iter_jobs())

    def _iter_jobs(self) -> Iterator[Job]:
        index = 0
        for fam in self.families:
            for delay in fam.delays_ms:
                for reaction in fam.reactions_ms:
                    specs = [NetworkSpec(network_id(fam.name, delay, lr, s, reaction), fam, delay, reaction, lr, s)
                             for lr in fam.lrs for s in fam.seeds]
                    for start in range(0, len(specs), self.max_networks_per_job):
                        yield Job(index, fam, delay, reaction, tuple(specs[start : start + self.max_networks_per_job]))
                        index += 1

    def config(self) -> dict:
        """A JSON-able description of the grid: what the manifest records and what resume compares."""
        return {"name": self.name, "max_networks_per_job": self.max_networks_per_job,
                "checkpoint_factor": self.checkpoint_factor,
                **({} if self.checkpoint_first == 1 else {"checkpoint_first": self.checkpoint_first}),
                "families": [_family_config(f) for f in self.families]}


def _family_config(family: Family) -> dict:
    """A family's fields as JSON-able values, without the newer fields that hold their defaults (_NEW_FIELDS)."""
    return {k: v for k, v in asdict(family).items() if not (k in _NEW_FIELDS and v == _NEW_FIELDS[k])}


def _family(name: str, delays, lrs, n_seeds: int, **kw) -> Family:
    return Family(name=name, delays_ms=tuple(int(d) for d in delays), lrs=tuple(lrs), seeds=tuple(range(n_seeds)), **kw)


def _nopost(delays, lrs, n_seeds, **kw) -> Family:
    return _family("nopost", delays, lrs, n_seeds, **kw)


def _post(delays, lrs, n_seeds, **kw) -> Family:
    return _family("post", delays, lrs, n_seeds, post_ms=30.0, steps_numerator=100.0, **kw)


CONTROL_LRS = tuple(float(x) for x in np.logspace(0, -3, 20))  # the reference's lr_all for the control


def _control(reactions_ms, lrs, n_seeds, **kw) -> Family:
    """The no-memory control family (the reference's train_parallel_fixed.py): no delay, response windows of
    `reactions_ms`, the target held over the whole trial, a linear readout, w = 1, 3000 steps, stop above loss 100."""
    return _family("control", (0,), lrs, n_seeds, reactions_ms=tuple(float(r) for r in reactions_ms), weighted=False,
                   target_held=True, readout="linear", stop_loss=100.0, steps_fixed=3000, **kw)


# At full scale a job is a whole (family, delay) cell group: 3,000 networks of N = 100 make a 126 MB weight shard
# (the Hub's sweet spot is 50-500 MB) and few files; the trainer cuts a job into batches that fit the device.
FULL_SCALE_JOB = 3000

PRESETS: dict[str, Preset] = {}


def register(preset: Preset) -> Preset:
    PRESETS[preset.name] = preset
    return preset


register(Preset("tiny", "2 delays x 2 learning rates x 3 seeds of the no-post protocol: a smoke test on a CPU",
                (_nopost((20, 40), (NARROW_LRS[0], BROAD_LRS[0]), 3),), max_networks_per_job=6, checkpoint_factor=8))
register(Preset("tiny-grid", "a grid for the adaptive mode's smoke test (run.py --adaptive): 2 delays x 4 "
                "learning rates (0.316 .. 0.0072) x 5 seeds of the no-post protocol", (_nopost(
                    (40, 80), (NARROW_LRS[0], BROAD_LRS[0], BROAD_LRS[4], BROAD_LRS[8]), 5),),
                max_networks_per_job=20))
register(Preset("sample", "the embedded sample zoo: 4 delays (50 ms among them) x 3 learning rates x 6 seeds",
                (_nopost((20, 50, 100, 200), (NARROW_LRS[0], BROAD_LRS[0], BROAD_LRS[4]), 6),),
                max_networks_per_job=18, checkpoint_factor=32, checkpoint_first=32))
# The sample keeps its checkpoints at steps 0, 32, 1024 (networks of more than 1024 steps) and the final one, as
# safetensors shards and as the `checkpoints` Parquet view: 3.3 per network on average, 17.2 MB of its 26.4 MB.
# Doubling would keep 12.3 per network: 37.7 MB of shards and about 29 MB of Parquet.
register(Preset("paper", "every family of arXiv 2502.17433 with its seeds per cell (81,500 networks)", (
    _family("nopost", PAPER_DELAYS, ALL_LRS, 100),
    _post(PAPER_DELAYS, BROAD_LRS, 20),
    _family("longtau", range(0, 801, 40), tuple(float(x) for x in np.logspace(-1, -3, 10)), 20, tau_ms=20.0,
            paper_delay_grid_ms=40.0),
    _control(tuple(float((k + 1) * 20) for k in range(20)), CONTROL_LRS, 20),
), max_networks_per_job=FULL_SCALE_JOB))
register(Preset("full", "the extended grid: delays 0-400 ms every 10 ms x 30 learning rates x 100 seeds, "
                "no-post and post-reaction protocols (246,000 networks)",
                (_nopost(FULL_DELAYS, ALL_LRS, 100), _post(FULL_DELAYS, ALL_LRS, 100)), max_networks_per_job=FULL_SCALE_JOB))
# The phase diagram on a CPU: rates 0.316 .. 0.0268 are paper-grid values (same network ids), spaced about
# a quarter decade; 0.562 extends the grid upwards (as the paper's control family does) so that the no-learning
# boundary shows from 120 ms on. 7 seeds and 6 rates keep it under an hour as two workers on a 2-core CPU.
PHASE_CPU_LRS = (10**-0.25, NARROW_LRS[0], NARROW_LRS[3], BROAD_LRS[0], BROAD_LRS[2], BROAD_LRS[4])
register(Preset("phase-cpu", "the phase diagram on a 2-core CPU: no-post protocol, delays 0-400 ms every 40 ms x "
                "6 learning rates (0.562 .. 0.0268) x 7 seeds (462 networks)",
                (_nopost(range(0, 401, 40), PHASE_CPU_LRS, 7),)))

# The weight-space benchmark: as many networks as `--workers 2` trains on a 2-core CPU in about 90
# minutes. Sized from phase-cpu's measured cost (471,086 network-steps at trials of up to 96 steps: 38.6 min wall
# with 2 workers on an idle machine, labels and writes included), with the cost of a network-step proportional to
# its trial length, 16 + delay_ms / 5 steps: 6 delays x 6 rates x 34 seeds come to ~80 min, leaving room for the
# checkpoints (doubling steps) and their Parquet views. Delays 40-240 ms and rates 0.562-0.0268 hold manifolds,
# cycles and failed / unstable networks (phase-cpu's diagram); 34 seeds split 20 / 7 / 7 (rnnzoo.splits).
register(Preset("benchmark", "the weight-space benchmark on a 2-core CPU: no-post protocol, delays 40-240 ms every "
                "40 ms x 6 learning rates (0.562 .. 0.0268) x 34 seeds (1,224 networks), checkpoints at doubling steps",
                (_nopost(range(40, 241, 40), PHASE_CPU_LRS, 34),), max_networks_per_job=102, checkpoint_factor=2))


# The control's analysis on a CPU: 4 response lengths x every fourth of the reference's 20 rates (1 .. 3e-3) x 3
# seeds, its protocol unchanged (3000 steps; runs whose loss explodes stop early). Same ids as the paper preset's.
register(Preset("control-cpu", "the no-memory control on a CPU: response windows 20, 60, 140, 300 ms x 5 learning "
                "rates (1 .. 3e-3) x 3 seeds (60 networks)",
                (_control((20, 60, 140, 300), CONTROL_LRS[::4], 3),), max_networks_per_job=15))


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; available presets: {', '.join(PRESETS)}")
    return PRESETS[name]
