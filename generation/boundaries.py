"""The adaptive planner: which networks of the paper's grid to train next, to map each phase boundary's power law.

A boundary is a curve lr_c(T) in the (axis, learning rate) plane of one family, where T is the delay (the
response length for the no-memory control): the rate where a share `THRESHOLD` (one half) of the seeds shows the
boundary's outcome. The exponent p of lr_c ~ T^p is what the paper reports.

- no_learning: outcome = learned (cycle or manifold; the control's own "learned"), the crossing falls with lr;
- slow_point: outcome = slow-point manifold among ALL networks of the cell (the reference's fraction), the rate
  below which manifolds are the majority.

The planner is a pure function of a networks table (`plan_round`): the same rows, in any order, give the same next
round, so a rerun, a resume after a kill, the local workers, `--job-index` slices and Ray all train the same
networks. Every network it chooses is a cell of the family's own grid (its delays / response lengths, its learning
rates) with seeds taken lowest-unused-first from the family's seed range: with the `paper` preset each network has
the id, and the bits, it has in the paper's zoo.

Rounds.
- Round 0, the coarse pass: per family, every other positive axis value counting down from the largest (for the
  paper's no-post grid 40, 80, ..., 400 ms; the control's 40, 80, ..., 400 ms responses) x COARSE_RATES rates
  spread evenly (in grid index) from the top of the rate grid down to the cheap rates (SGD steps at most
  COARSE_MAX_STEPS_FACTOR x the family's minimum: 0.316 .. 0.01 for the no-post family, every rate for the
  control's fixed 3000 steps), COARSE_SEEDS seeds each.
- Round r > 0: per boundary still short of its target, per axis value, the crossing's state is read from the
  table (learned / manifold fraction per sampled rate, made non-increasing in the rate by weighted isotonic
  regression, rnnzoo.phases.monotone_fraction). Candidate moves:
    bisect  - the crossing lies between two sampled rates with unsampled grid rates between them: the middle one;
    extend  - every sampled rate is on one side of the threshold: the grid rate half way to the grid's edge
              (none once the edge is sampled: the boundary leaves the grid there);
    open    - an axis value not yet sampled: the two grid rates that bracket the crossing predicted there (in
              ln lr against ln T: interpolated between the nearest sampled values on both sides when both have
              a crossing, else extrapolated from the two nearest crossings on one side where the other side's
              has none);
    refine  - the crossing lies between two adjacent grid rates: more seeds in either bracketing cell (doubling
              its seeds, at least REFINE_MIN_SEEDS), while the family's seed range lasts.
  Each move is scored by the variance of the exponent it is expected to remove, relative to the target's
  variance, per unit of training cost:
      score = lever(T) * dvar(T) / target^2 / cost,
  with dvar the expected drop of the crossing's variance in (ln lr)^2 (bisect / extend: gap^2 / 16, a crossing
  uniform over the gap halved; open: two cells' grid step^2 / 12; refine: the delta method on the linear
  interpolation between the bracketing cells, binomial variances with a Jeffreys-like shrinkage),
  lever(T) = c_T^2 + 0.25 / (m Sxx), c_T = (ln T - mean) / Sxx the weight of the point in the least-squares slope
  over the m axis values with a crossing (plus T), and cost = SGD steps x trial steps (`network_units`). Moves are
  taken best first (ties broken by boundary, axis, rate), a cell at most once a round, until the round's cost
  (ROUND_FRACTION of the budget) is spent; a move that does not fit is skipped.
- Stopping: after each round, per boundary, `exponent_precision` gives (exponent, standard error); a boundary
  whose standard error is at or below its target (with at least MIN_POINTS axis values in the fit) gets no more
  networks. The run stops when every boundary is at its target ("targets reached"), when the budget is spent or
  no move fits in what is left ("budget spent"), or when no move is left ("grid exhausted"). The round records
  (estimates, chosen cells, scores, the decision) go to the zoo's manifest.

The cost model: a network costs steps x trial length "units"; on the 2-core CPU of this project one unit took
SECONDS_PER_UNIT core-seconds, labels and writes included (phase-cpu: 26.4e6 units in 38.6 min wall with two
workers on the idle machine), so the budget, given in core-hours, is a fixed number of units: the stopping rule
depends on the table alone, never on a clock. Measured for this planner (2026, shared machine at load 4-6): the
coarse no-post job at 100 ms (15 networks, 756,000 units) took 527 s wall in one process at about half a core,
3.6e-4 core-seconds per unit: twice the idle figure, so a loaded machine stretches the wall time accordingly.
On a synthetic phase diagram (tests/test_boundaries.py's, logistic spread 0.35 in ln lr) the default budget reached
standard errors of about 0.32 (no-post no-learning), 0.30 (slow point) and 0.09 (control); 16 core-hours reached
0.19, 0.27 and 0.04.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from generation.presets import Family, Job, NetworkSpec, network_id

THRESHOLD = 0.5
KINDS = ("no_learning", "slow_point")
# Which boundaries each family of the paper maps (the paper's figures: no post both; post and the control the
# no-learning boundary; the long-tau family both, as the no-post family).
FAMILY_BOUNDARIES = {"nopost": KINDS, "post": ("no_learning",), "longtau": KINDS, "control": ("no_learning",)}
DEFAULT_TARGETS = {"no_learning": 0.15, "slow_point": 0.3, "control/no_learning": 0.05, "post/no_learning": 0.25}
DEFAULT_FAMILIES = ("nopost", "control")

SECONDS_PER_UNIT = 1.76e-4  # core-seconds per (SGD step x trial step), labels and writes included (phase-cpu, idle)
DEFAULT_BUDGET_CORE_HOURS = 4.4  # ~2.2 h wall with --workers 2 on the idle 2-core machine, rounds' tails included
ROUND_FRACTION = 0.125  # a round spends at most this share of the DEFAULT budget (about 8 rounds after the coarse pass)
ROUND_UNITS = int(DEFAULT_BUDGET_CORE_HOURS * 3600 / SECONDS_PER_UNIT * ROUND_FRACTION)  # the same for any budget,
# so a run with a smaller budget is a prefix of one with a larger budget: `--budget` more resumes a finished run
COARSE_SEEDS = 3  # odd: a cell's fraction is never exactly one half
PROBE_SEEDS = 3  # seeds of a bisect / extend / open move
REFINE_MIN_SEEDS = 4
COARSE_RATES = 5
COARSE_AXIS = 6
COARSE_MAX_STEPS_FACTOR = 3
MIN_POINTS = 4  # axis values with a crossing before a standard error counts


@dataclass(frozen=True)
class Boundary:
    family: str
    kind: str
    target: float

    @property
    def key(self) -> str:
        return f"{self.family}/{self.kind}"


@dataclass(frozen=True)
class AdaptiveConfig:
    """What an adaptive run maps and how far: recorded in generation.json, compared on resume."""

    boundaries: tuple[Boundary, ...]
    budget_units: int
    round_units: int
    max_steps: int | None = None  # --max-steps (tests): costs count the capped steps
    coarse_seeds: int = COARSE_SEEDS

    def plan_settings(self) -> dict:
        """What the folder is claimed with: everything the rounds depend on (not the budget, which only says when
        to stop: a larger one resumes a finished run)."""
        return {k: v for k, v in self.to_dict().items() if k not in ("budget_units", "budget_core_hours")}

    def to_dict(self) -> dict:
        return {"boundaries": [asdict(b) | {"key": b.key} for b in self.boundaries],
                "budget_units": self.budget_units, "round_units": self.round_units,
                "budget_core_hours": round(self.budget_units * SECONDS_PER_UNIT / 3600, 3),
                "seconds_per_unit": SECONDS_PER_UNIT, "coarse_seeds": self.coarse_seeds,
                "threshold": THRESHOLD, "min_points": MIN_POINTS, "estimator": ESTIMATOR}


def make_config(families: Sequence[Family], targets: dict[str, float] | None = None,
                budget_core_hours: float = DEFAULT_BUDGET_CORE_HOURS, max_steps: int | None = None) -> AdaptiveConfig:
    """The boundaries of `families` (FAMILY_BOUNDARIES by family name; a family of another name maps both of a
    memory family's boundaries, or the control's one if it holds its target) with their targets: `targets` by key
    ('nopost/slow_point') or by kind ('slow_point'), else DEFAULT_TARGETS."""
    targets = dict(targets or {})
    out = []
    for fam in families:
        base = fam.name.split("-")[0]
        kinds = FAMILY_BOUNDARIES.get(base, ("no_learning",) if fam.target_held else KINDS)
        for kind in kinds:
            key = f"{fam.name}/{kind}"
            target = targets.get(key, targets.get(kind, DEFAULT_TARGETS.get(f"{base}/{kind}",
                                                                            DEFAULT_TARGETS[kind])))
            out.append(Boundary(fam.name, kind, float(target)))
    budget = int(budget_core_hours * 3600 / SECONDS_PER_UNIT)
    return AdaptiveConfig(tuple(out), budget, ROUND_UNITS, max_steps)


# ---- the estimate and its precision: the one place the estimator is chosen ---------------------------------------
ESTIMATOR = "rnnzoo.boundaries.exponent_estimate (binomial likelihood on the seed counts; standard error: the larger of the Wald error and the 68% profile half-width)"


def exponent_precision(table: pd.DataFrame, family: Family | str, boundary: str) -> tuple[float, float]:
    """(exponent, standard error) of a boundary's power law lr_c ~ T^p from the networks table: the maximum-
    likelihood fit on the seed counts (rnnzoo.boundaries), whose Wald standard error covers the truth at its stated
    rate on synthetic tables (benchmarks/bench_boundaries.py). (nan, inf) with fewer than MIN_POINTS axis values or
    when the fit cannot be made (no crossing yet). The one place the estimator is chosen."""
    from rnnzoo.boundaries import exponent_estimate

    name = family if isinstance(family, str) else family.name
    rows = table[table["family"] == name] if len(table) else table
    if rows.empty:
        return math.nan, math.inf
    axis = rows["reaction_ms"] if is_control_rows(rows) else rows["delay_ms"]
    if int((axis.astype(float) > 0).groupby(axis).any().sum()) < MIN_POINTS:
        return math.nan, math.inf
    try:
        exponent, stderr = exponent_estimate(rows, family=name, boundary=boundary)
    except ValueError:  # too few cells on both sides of the boundary yet
        return math.nan, math.inf
    if not (math.isfinite(exponent) and math.isfinite(stderr)):
        return math.nan, math.inf
    return float(exponent), float(stderr)


def outcome_frame(table: pd.DataFrame, family: str, boundary: str) -> pd.DataFrame:
    """The family's rows in rnnzoo.phases' format, with `mechanism` recoded so that 'learned' (cycle) means the
    boundary's outcome: no_learning - learned; slow_point - manifold (cycles count as not). The control's response
    length becomes the axis (`delay_ms`)."""
    rows = table[table["family"] == family]
    if rows.empty:
        return rows
    mech = rows["mechanism"].astype(str)
    if boundary == "slow_point":
        positive = mech == "manifold"
    elif boundary == "no_learning":
        positive = mech.isin(("cycle", "manifold", "learned"))
    else:
        raise ValueError(f"unknown boundary {boundary!r}; expected one of {KINDS}")
    axis = rows["reaction_ms"] if is_control_rows(rows) else rows["delay_ms"]
    return pd.DataFrame({"family": family, "delay_ms": axis.to_numpy(float), "lr": rows["lr"].to_numpy(float),
                         "seed": rows["seed"].to_numpy(int),
                         "mechanism": np.where(positive.to_numpy(), "cycle", "failed")})


def is_control_rows(rows: pd.DataFrame) -> bool:
    return bool("target_held" in rows and rows["target_held"].fillna(False).astype(bool).all()) or \
        bool((rows["family"] == "control").all())


# ---- the grid of a family ----------------------------------------------------------------------------------------
def axis_of(family: Family) -> tuple[float, ...]:
    """The values the boundary is mapped along: the response lengths of the control, else the delays (> 0: the
    power law's T)."""
    values = family.reactions_ms if family.target_held else family.delays_ms
    return tuple(sorted(float(v) for v in values if v > 0))


def cell_spec(family: Family, axis: float, lr: float, seed: int) -> NetworkSpec:
    """The network of a family's grid at (axis value, rate, seed), with the preset's id."""
    delay, reaction = (0, float(axis)) if family.target_held else (int(axis), float(family.reactions_ms[0]))
    return NetworkSpec(network_id(family.name, delay, lr, seed, reaction), family, delay, reaction, lr, seed)


_TRIAL_STEPS: dict = {}


def network_units(spec: NetworkSpec, max_steps: int | None = None) -> int:
    """Training cost of one network: SGD steps (capped by --max-steps) x trial steps."""
    key = (spec.family, spec.delay_ms, spec.reaction_ms)
    if key not in _TRIAL_STEPS:
        _TRIAL_STEPS[key] = spec.family.task(spec.delay_ms, spec.reaction_ms).n_steps
    steps = spec.steps if max_steps is None else min(spec.steps, max_steps)
    return int(steps) * int(_TRIAL_STEPS[key])


def _lr_key(lr: float) -> float:
    return round(math.log10(lr), 4)  # rates equal to 1e-4 decades (as rnnzoo.phases.grid)


@dataclass
class _Cells:
    """One family's sampled cells: n[a, l] networks, k[a, l] with the outcome, seeds[(a, l)] used."""

    axis: np.ndarray
    lrs: np.ndarray  # ascending
    n: np.ndarray
    k: dict = field(default_factory=dict)  # boundary kind -> counts
    seeds: dict = field(default_factory=dict)


def _cells(table: pd.DataFrame, family: Family) -> _Cells:
    axis = np.array(axis_of(family))
    lrs = np.array(sorted(family.lrs))
    a_index = {float(v): i for i, v in enumerate(axis)}
    l_index = {_lr_key(v): i for i, v in enumerate(lrs)}
    cells = _Cells(axis, lrs, np.zeros((len(axis), len(lrs)), int),
                   {kind: np.zeros((len(axis), len(lrs)), int) for kind in KINDS})
    rows = table[table["family"] == family.name] if len(table) else table
    if rows is None or len(rows) == 0:
        return cells
    control = family.target_held
    ax = rows["reaction_ms" if control else "delay_ms"].to_numpy(float)
    mech = rows["mechanism"].astype(str).to_numpy()
    for a, lr, seed, m in zip(ax, rows["lr"].to_numpy(float), rows["seed"].to_numpy(int), mech):
        i, j = a_index.get(float(a)), l_index.get(_lr_key(lr))
        if i is None or j is None:
            continue  # not on this family's grid (a delay 0, another preset's rate): never planned around
        cells.n[i, j] += 1
        cells.k["no_learning"][i, j] += m in ("cycle", "manifold", "learned")
        cells.k["slow_point"][i, j] += m == "manifold"
        cells.seeds.setdefault((i, j), set()).add(int(seed))
    return cells


def _next_seeds(cells: _Cells, family: Family, i: int, j: int, count: int, taken: dict) -> list[int]:
    used = cells.seeds.get((i, j), set()) | taken.get((i, j), set())
    return [s for s in sorted(family.seeds) if s not in used][:count]


# ---- the crossing at one axis value ------------------------------------------------------------------------------
@dataclass
class _Crossing:
    status: str  # interior | above | below | unsampled
    lo: int = -1  # rate index (ascending) of the last sampled rate at or above threshold (interior)
    hi: int = -1  # the next sampled rate (interior)
    x: float = math.nan  # ln of the interpolated crossing
    p_lo: float = math.nan
    p_hi: float = math.nan


def _crossing(n: np.ndarray, k: np.ndarray, lrs: np.ndarray) -> _Crossing:
    from rnnzoo.phases import monotone_fraction

    sampled = np.flatnonzero(n > 0)
    if sampled.size == 0:
        return _Crossing("unsampled")
    f = monotone_fraction(k[sampled] / n[sampled], n[sampled])
    ok = np.flatnonzero(f >= THRESHOLD)
    if ok.size == 0:
        return _Crossing("below", hi=int(sampled[0]))
    if ok[-1] == sampled.size - 1:
        return _Crossing("above", lo=int(sampled[-1]))
    i = int(ok[-1])
    lo, hi = int(sampled[i]), int(sampled[i + 1])
    x_lo, x_hi = math.log(lrs[lo]), math.log(lrs[hi])
    t = (f[i] - THRESHOLD) / (f[i] - f[i + 1])
    return _Crossing("interior", lo, hi, x_lo + t * (x_hi - x_lo), float(f[i]), float(f[i + 1]))


# ---- one round -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Move:
    boundary: str
    family: Family
    axis_index: int
    rate_index: int
    seeds: int
    why: str
    dvar: float  # expected drop of the crossing's variance, (ln lr)^2


def coarse_cells(family: Family, seeds: int = COARSE_SEEDS) -> list[tuple[float, float, int]]:
    """Round 0 of a family: (axis value, rate, seed) cells of the coarse pass (see the module's text)."""
    axis = axis_of(family)
    if len(axis) <= COARSE_AXIS:
        picked_axis = list(axis)
    else:  # COARSE_AXIS values evenly spread (in grid index) over the axis, both ends included
        picked_axis = sorted({axis[round(q * (len(axis) - 1) / (COARSE_AXIS - 1))] for q in range(COARSE_AXIS)})
    cheap = [lr for lr in sorted(family.lrs, reverse=True)
             if family.steps_fixed or family.steps(lr) <= COARSE_MAX_STEPS_FACTOR * max(family.steps_min, 1)]
    if len(cheap) <= COARSE_RATES:
        rates = cheap
    else:  # COARSE_RATES rates evenly spread (in grid index) from the top rate to the cheapest-enough bottom one
        rates = [cheap[round(q * (len(cheap) - 1) / (COARSE_RATES - 1))] for q in range(COARSE_RATES)]
    return [(a, lr, s) for a in picked_axis for lr in rates for s in sorted(family.seeds)[:seeds]]


def table_units(table: pd.DataFrame, families: Sequence[Family], max_steps: int | None = None) -> int:
    """Units the table's networks cost: SGD steps done (the `steps` column: a control network whose loss exploded
    stopped early) x trial steps; the planned steps where the column is absent."""
    if table is None or len(table) == 0:
        return 0
    by_name = {f.name: f for f in families}
    total = 0
    has_steps = "steps" in table
    for row in table.itertuples(index=False):
        fam = by_name.get(row.family)
        if fam is None:
            continue
        spec = NetworkSpec(row.id, fam, int(row.delay_ms), float(row.reaction_ms), float(row.lr), int(row.seed))
        units = network_units(spec, max_steps)
        if has_steps and row.steps is not None and not pd.isna(row.steps):
            units = int(row.steps) * (units // max(spec.steps if max_steps is None else min(spec.steps, max_steps), 1))
        total += units
    return int(total)


def plan_round(table: pd.DataFrame, families: Sequence[Family], config: AdaptiveConfig, round_index: int) -> dict:
    """The next round as a JSON-able record: {"round", "kind", "units_before", "estimates", "cells", "networks",
    "units", "stop"}.

    A pure function of the table's rows (id, family, delay_ms, reaction_ms, lr, seed, mechanism, steps; row order
    and other columns do not matter), the families, the config and the round number; the units spent so far are
    the table's (table_units). `networks`
    lists the chosen ids (sorted); `stop` is None, or why the run ends ("targets reached", "budget spent",
    "grid exhausted"), in which case nothing is chosen."""
    by_name = {f.name: f for f in families}
    table = _canonical(table)
    spent_units = table_units(table, families, config.max_steps)
    record: dict = {"round": round_index, "kind": "coarse" if round_index == 0 else "refine",
                    "units_before": int(spent_units)}
    remaining = config.budget_units - spent_units
    if round_index == 0:
        specs, cells = [], []
        for fam in families:
            if not any(b.family == fam.name for b in config.boundaries):
                continue
            for a, lr, s in coarse_cells(fam, config.coarse_seeds):
                specs.append(cell_spec(fam, a, lr, s))
        units = sum(network_units(s, config.max_steps) for s in specs)
        if units > remaining:
            record.update(stop="budget spent", estimates={}, cells=[], networks=[], units=0,
                          reason=f"the coarse pass needs {units:,} units, the budget has {remaining:,}")
            return record
        record.update(estimates={}, cells=_cell_records(specs, "coarse"), networks=sorted(s.id for s in specs),
                      units=int(units), stop=None)
        return record

    estimates, active = {}, []
    for b in config.boundaries:
        exponent, stderr = exponent_precision(table, b.family, b.kind)
        reached = bool(stderr <= b.target)
        estimates[b.key] = {"exponent": _num(exponent), "stderr": _num(stderr), "target": b.target,
                            "reached": reached, "n": int((table["family"] == b.family).sum()) if len(table) else 0}
        if not reached:
            active.append(b)
    record["estimates"] = estimates
    if not active:
        record.update(stop="targets reached", cells=[], networks=[], units=0)
        return record
    if remaining <= 0:
        record.update(stop="budget spent", cells=[], networks=[], units=0)
        return record
    moves = []
    cells_of = {name: _cells(table, fam) for name, fam in by_name.items()}
    for b in active:
        moves += _moves(cells_of[b.family], by_name[b.family], b)
    if not moves:
        record.update(stop="grid exhausted", cells=[], networks=[], units=0)
        return record
    round_budget = config.round_units  # never cut to what is left: the rounds do not depend on the budget
    scored = []
    for m in moves:
        cells = cells_of[m.family.name]
        seeds = _next_seeds(cells, m.family, m.axis_index, m.rate_index, m.seeds, {})
        if not seeds:
            continue
        spec = cell_spec(m.family, cells.axis[m.axis_index], cells.lrs[m.rate_index], seeds[0])
        cost = network_units(spec, config.max_steps) * len(seeds)
        target = next(b.target for b in active if b.key == m.boundary)
        lever = _lever(cells, m.family, m.boundary.split("/")[1], m.axis_index)
        score = lever * m.dvar / target**2 / max(cost, 1)
        scored.append((-score, m.boundary, m.axis_index, m.rate_index, m, cost))
    scored.sort(key=lambda t: t[:4])
    chosen, taken, used = [], {}, 0
    for neg, _, i, j, m, cost in scored:
        key = (m.family.name, i, j)
        if key in taken or used + cost > round_budget:
            continue
        cells = cells_of[m.family.name]
        seeds = _next_seeds(cells, m.family, i, j, m.seeds, {})
        taken[key] = True
        used += cost
        chosen.append({"boundary": m.boundary, "why": m.why, "family": m.family.name,
                       "axis_ms": float(cells.axis[i]), "lr": float(cells.lrs[j]), "seeds": seeds,
                       "score": _num(-neg), "dvar": _num(m.dvar)})
    if not chosen:
        record.update(stop="budget spent", cells=[], networks=[], units=0,
                      reason=f"no move fits in the {remaining:,} units left")
        return record
    specs = [cell_spec(by_name[c["family"]], c["axis_ms"], c["lr"], s) for c in chosen for s in c["seeds"]]
    record.update(cells=chosen, networks=sorted(s.id for s in specs), units=int(used), stop=None)
    return record


def _canonical(table: pd.DataFrame) -> pd.DataFrame:
    """The planner's columns, rows sorted by id (row order never matters), synthetic rows left out."""
    if table is None or len(table) == 0:
        return pd.DataFrame(columns=["id", "family", "delay_ms", "reaction_ms", "lr", "seed", "mechanism", "steps"])
    if "synthetic" in table:
        table = table[~table["synthetic"].fillna(False).astype(bool)]
    columns = [c for c in ("id", "family", "delay_ms", "reaction_ms", "lr", "seed", "mechanism", "target_held", "steps")
               if c in table]
    return table[columns].sort_values("id", kind="stable").reset_index(drop=True)


def _moves(cells: _Cells, family: Family, boundary: Boundary) -> list[_Move]:
    lrs, n, k = cells.lrs, cells.n, cells.k[boundary.kind]
    x = np.log(lrs)
    L = len(lrs)
    step = float(np.median(np.diff(x))) if L > 1 else 1.0
    seeds_max = len(family.seeds)
    states = [_crossing(n[i], k[i], lrs) for i in range(len(cells.axis))]
    moves = []

    def move(i: int, j: int, seeds: int, why: str, dvar: float) -> None:
        if 0 <= j < L and n[i, j] < seeds_max and dvar > 0:
            moves.append(_Move(boundary.key, family, i, j, seeds, why, float(dvar)))

    for i, st in enumerate(states):
        if st.status == "unsampled":
            xc = _predicted_crossing(cells.axis, states, i)
            if xc is None or not x[0] <= xc <= x[-1]:
                continue
            below = int(np.searchsorted(x, xc, side="right") - 1)
            for j in (below, below + 1):
                move(i, j, PROBE_SEEDS, "open", step**2 / 12)
        elif st.status == "above":
            if st.lo < L - 1:
                j = (st.lo + L) // 2
                move(i, j, PROBE_SEEDS, "extend", (x[-1] - x[st.lo] + step / 2) ** 2 / 16)
        elif st.status == "below":
            if st.hi > 0:
                j = (st.hi - 1) // 2
                move(i, j, PROBE_SEEDS, "extend", (x[st.hi] - x[0] + step / 2) ** 2 / 16)
        elif st.hi - st.lo > 1:
            move(i, (st.lo + st.hi) // 2, PROBE_SEEDS, "bisect", (x[st.hi] - x[st.lo]) ** 2 / 16)
        else:
            width = x[st.hi] - x[st.lo]
            gap = max(st.p_lo - st.p_hi, 0.2)
            for j, other_p, sign in ((st.lo, st.p_hi, 1), (st.hi, st.p_lo, -1)):
                nj, kj = n[i, j], k[i, j]
                if nj >= seeds_max:
                    continue
                add = min(max(int(nj), REFINE_MIN_SEEDS), seeds_max - int(nj))
                p = (kj + 0.5) / (nj + 1.0)
                # d(crossing)/d(fraction) of the linear interpolation, in units of the bracket's width
                dt = (THRESHOLD - other_p) / gap**2 if sign > 0 else (st.p_lo - THRESHOLD) / gap**2
                dvar = width**2 * dt**2 * p * (1 - p) * (1 / nj - 1 / (nj + add))
                move(i, j, add, "refine", dvar)
    return moves


def _predicted_crossing(axis: np.ndarray, states: list, i: int) -> float | None:
    """ln of the crossing expected at an unsampled axis value i: interpolated (ln lr against ln T) between the
    nearest sampled values on either side when both have a crossing; extrapolated from the two nearest crossings on
    one side when the nearest sampled value on the other side has none (the boundary leaves the grid there) or
    there is none; None otherwise."""
    sampled = [q for q in range(len(states)) if states[q].status != "unsampled"]
    left = [q for q in sampled if q < i]
    right = [q for q in sampled if q > i]
    inside = lambda q: states[q].status == "interior"  # noqa: E731
    if left and right and inside(left[-1]) and inside(right[0]):
        pair = (left[-1], right[0])
    elif left and len(left) >= 2 and inside(left[-1]) and inside(left[-2]) and (not right or not inside(right[0])):
        pair = (left[-2], left[-1])
    elif right and len(right) >= 2 and inside(right[0]) and inside(right[1]) and (not left or not inside(left[-1])):
        pair = (right[0], right[1])
    else:
        return None
    la, lb, lt = (math.log(axis[q]) for q in (*pair, i))
    xa, xb = states[pair[0]].x, states[pair[1]].x
    return float(xa + (xb - xa) * (lt - la) / (lb - la))


def _lever(cells: _Cells, family: Family, kind: str, i: int) -> float:
    """c_T^2 + 0.25 / (m Sxx): the weight of axis value i in the least-squares slope over the axis values with a
    crossing (plus i itself), floored so that central values keep some worth."""
    k = cells.k[kind]
    inside = [q for q in range(len(cells.axis)) if _crossing(cells.n[q], k[q], cells.lrs).status == "interior"]
    if len(inside) < 2:
        inside = [q for q in range(len(cells.axis)) if cells.n[q].sum() > 0] or list(range(len(cells.axis)))
    pts = sorted(set(inside) | {i})
    lx = np.log(cells.axis[pts])
    sxx = float(np.sum((lx - lx.mean()) ** 2))
    if sxx <= 0:
        return 1.0
    c = (math.log(cells.axis[i]) - lx.mean()) / sxx
    return c * c + 0.25 / (len(pts) * sxx)


def _cell_records(specs: Iterable[NetworkSpec], why: str) -> list[dict]:
    groups: dict = {}
    for s in specs:
        axis = s.reaction_ms if s.family.target_held else float(s.delay_ms)
        groups.setdefault((s.family.name, axis, s.lr), []).append(s.seed)
    return [{"why": why, "family": f, "axis_ms": a, "lr": lr, "seeds": sorted(seeds)}
            for (f, a, lr), seeds in sorted(groups.items(), key=lambda t: (t[0][0], t[0][1], -t[0][2]))]


def _num(v: float) -> float | str | None:
    """A number as the round records store it (rnnzoo.phases' JSON rule: NaN as None, infinities as strings)."""
    from rnnzoo.family_table import _clean

    return _clean(float(v))


# ---- from a round's record to jobs ---------------------------------------------------------------------------------
def round_jobs(record: dict, families: Sequence[Family], first_index: int, max_networks_per_job: int = 100
               ) -> list[Job]:
    """The jobs of a round: its networks grouped by (family, delay, response window), families in the run's order,
    networks in the preset's order (rates descending, then seeds), cut into jobs of at most max_networks_per_job,
    numbered from first_index. A function of the record's network ids alone."""
    by_name = {f.name: f for f in families}
    wanted = set(record["networks"])
    jobs, index = [], first_index
    for fam in families:
        groups: dict = {}
        for cell in record["cells"]:
            if cell["family"] != fam.name:
                continue
            for s in cell["seeds"]:
                spec = cell_spec(by_name[fam.name], cell["axis_ms"], cell["lr"], s)
                if spec.id in wanted:
                    groups.setdefault((spec.delay_ms, spec.reaction_ms), {})[spec.id] = spec
        for (delay, reaction) in sorted(groups):
            specs = sorted(groups[(delay, reaction)].values(), key=lambda s: (-s.lr, s.seed))
            for start in range(0, len(specs), max_networks_per_job):
                jobs.append(Job(index, fam, delay, reaction, tuple(specs[start:start + max_networks_per_job])))
                index += 1
    found = {n.id for j in jobs for n in j.networks}
    if found != wanted:
        raise ValueError(f"round {record['round']}: {len(wanted - found)} networks of its record are not cells of "
                         f"the run's families (first: {sorted(wanted - found)[:3]})")
    return jobs
