"""The adaptive planner against a uniform grid: networks, core-hours and wall time to reach each boundary's target
precision on the exponent of lr_c ~ T^p, measured side by side on a synthetic phase diagram.

Training thousands of networks twice is not possible on this machine, so both designs are run on the synthetic
phase diagram of tests/test_adaptive.py (`outcome` below is the same function: the paper's exponents -2.72 for
the no-learning boundary, -4.05 for the slow-point boundary, -0.38 for the control's, a logistic spread of 0.35
in ln lr, each network's outcome drawn deterministically from its id, so a network both designs train has one
outcome). Everything else is real: the networks are cells of the `paper` preset (generation.boundaries.cell_spec:
the zoo's ids, SGD steps and trial lengths), the planner is generation.boundaries.plan_round, the precision is
generation.boundaries.exponent_precision (the likelihood fit on seed counts, its Wald standard error), and a
network costs SGD steps x trial steps (network_units), converted to core-hours with SECONDS_PER_UNIT (phase-cpu's
measured cost on the idle 2-core machine, labels and writes included). Wall time is core-hours / --workers on that
idle machine (a loaded machine measured about twice the core-seconds per unit; the adaptive run's round barriers
are not counted).

- adaptive: the planner's rounds (default config: families nopost + control, targets 0.15 no-learning, 0.3 slow
  point, 0.05 control) until it stops or passes --budget core-hours (the planner's own stopping rule: it checks
  the budget before each round, so it can pass it by one round). After each round: per boundary the exponent and
  its standard error, networks and units so far (of the boundary's family, and of the whole run).
- uniform: the phase-cpu grid with s seeds in every cell, s = 1, 2, 3, ... up to the family's seed range in the
  paper preset (100 for no-post, 20 for the control), seeds 0..s-1 (a larger s adds to a smaller one's networks).
  No-post: phase-cpu's delays 40-400 ms every 40 ms (delay 0 left out: it has no place on the power law and the
  adaptive run never trains it; counting it would add a tenth to the uniform cost) x phase-cpu's 6 rates
  (0.562 .. 0.0268; 0.562 is phase-cpu's extension above the paper's grid, same id scheme). Control: the paper
  control family's response lengths 40-400 ms every 40 ms (every other one, as phase-cpu takes every other
  delay) x every --control-rate-stride-th of its rates from 1 down to 0.0127 (default 2: 1, 0.48, ..., 0.0127,
  7 rates 0.32 decade apart: about phase-cpu's spacing, 0.25-0.29 decade; the synthetic boundary, 0.06-0.14,
  lies inside).

Printed, for draw 0 (the tests' outcomes): both designs' progress; per boundary, where the adaptive run first
reached the target (or how far it got) and where the uniform grid first did (or the best it reached); then the
uniform grid's standard error at the cost the adaptive run spent on that family (the most seeds per cell that
cost no more). A design's cost for a boundary is the units of the boundary's family (the uniform grid of a family
costs only that family; the adaptive run's "run" figures add the other family's networks trained meanwhile).
One draw is one realisation of the seeds' outcomes, and "the first time the standard error is at or below the
target" is itself noisy, so --replicates further draws (the same law, each network's outcome hashed with the
draw's number) give medians and ranges of the same figures, and the RMS error of the exponent where each design
stopped. Costs move in steps: a planner round (ROUND_UNITS, 0.55 core-h) and one seed per cell of the uniform
grid (0.18 core-h no-post, 0.51 control).

    PYTHONPATH=. python benchmarks/bench_adaptive.py                    # 16 core-h budget, 10 draws: ~100 s here
    PYTHONPATH=. python benchmarks/bench_adaptive.py --budget 4.4 --json /tmp/adaptive.json
    PYTHONPATH=. python benchmarks/bench_adaptive.py --families nopost --targets no_learning=0.2 slow_point=0.3
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse
import hashlib
import json
import math
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

if __package__ in (None, ""):  # run as a script from anywhere: the repository's generation package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generation.boundaries import (SECONDS_PER_UNIT, axis_of, cell_spec, exponent_precision, make_config,
                                   network_units, plan_round, round_jobs)
from generation.presets import CONTROL_LRS, PHASE_CPU_LRS, get_preset

SPREAD = 0.35  # logistic scale of every boundary, ln lr
TRUTH = {"no_learning": -2.72, "slow_point": -4.05, "control": -0.38}
CONTROL_SPAN = 13  # the uniform control grid's rates: the paper's first 13 control rates, 1 .. 0.0127


def outcome(spec, draw: int = 0) -> str:
    """tests/test_adaptive.py's synthetic_outcome (draw 0; another draw hashes the id with the draw's number, an
    independent phase diagram of the same law): learned below 0.3 (T / 120 ms)^-2.72, manifolds below
    0.2 (T / 80)^-4.05, the control learned below 0.1 (R / 100)^-0.38, each with a logistic spread of 0.35 in ln lr."""
    key = spec.id if draw == 0 else f"{spec.id}/draw{draw}/"
    u = [int(hashlib.sha256(f"{key}{k}".encode()).hexdigest()[:12], 16) / 16**12 for k in "ab"]
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    if spec.family.target_held:
        return "learned" if u[0] < sig(math.log(0.1 * (spec.reaction_ms / 100) ** TRUTH["control"] / spec.lr)
                                       / SPREAD) else "failed"
    T = max(spec.delay_ms, 1)
    if u[0] >= sig(math.log(0.3 * (T / 120) ** TRUTH["no_learning"] / spec.lr) / SPREAD):
        return "failed"
    return "manifold" if u[1] < sig(math.log(0.2 * (T / 80) ** TRUTH["slow_point"] / spec.lr) / SPREAD) else "cycle"


def truth(family, kind: str) -> float:
    return TRUTH["control"] if family.target_held else TRUTH[kind]


def row(spec, draw: int) -> dict:
    """A networks-table row as the adaptive run writes it (tests/test_adaptive.py's simulate)."""
    return {"id": spec.id, "family": spec.family.name, "delay_ms": spec.delay_ms, "reaction_ms": spec.reaction_ms,
            "lr": spec.lr, "seed": spec.seed, "mechanism": outcome(spec, draw), "steps": spec.steps,
            "target_held": spec.family.target_held, "synthetic": False}


def core_hours(units: float) -> float:
    return units * SECONDS_PER_UNIT / 3600


# ---- the adaptive run ------------------------------------------------------------------------------------------
def run_adaptive(families, config, max_rounds: int, draw: int) -> tuple[list[dict], dict]:
    """The planner round by round on the synthetic outcomes: one state per round boundary (after the coarse pass
    and after each later round) with every boundary's (exponent, stderr), and the last record."""
    rows, units, states = [], {f.name: 0 for f in families}, []
    record = None
    for r in range(max_rounds):
        record = plan_round(pd.DataFrame(rows), families, config, r)
        if r > 0:  # the record's estimates are exponent_precision on the table of rounds 0 .. r-1
            states.append(state(r, rows, units, record["estimates"]))
        if record["stop"]:
            break
        for job in round_jobs(record, families, 0):
            for spec in job.networks:
                rows.append(row(spec, draw))
                units[spec.family.name] += network_units(spec, config.max_steps)
    else:  # stopped by max_rounds: measure the last round's table too
        table = pd.DataFrame(rows)
        estimates = {}
        for b in config.boundaries:
            e, se = exponent_precision(table, b.family, b.kind)
            estimates[b.key] = {"exponent": e, "stderr": se}
        states.append(state(max_rounds, rows, units, estimates))
    return states, record


def state(rounds: int, rows: list[dict], units: dict, estimates: dict) -> dict:
    networks = {name: sum(1 for x in rows if x["family"] == name) for name in units}
    return {"rounds": rounds, "networks": networks, "units": dict(units), "run_networks": len(rows),
            "run_units": sum(units.values()),
            "estimates": {k: (_float(v["exponent"]), _float(v["stderr"])) for k, v in estimates.items()}}


def _float(v) -> float:
    if v is None:
        return math.nan
    return math.inf if v == "inf" else float(v)


# ---- the uniform grid ----------------------------------------------------------------------------------------------
def uniform_cells(family, control_stride: int) -> list[tuple[float, float]]:
    """(axis value, rate) cells of the phase-cpu-style grid of a family (see the module's text)."""
    if family.target_held:
        axis = [a for a in axis_of(family) if round(a) % 40 == 0]
        rates = CONTROL_LRS[:CONTROL_SPAN:control_stride]
    else:
        axis = [float(d) for d in get_preset("phase-cpu").families[0].delays_ms if d > 0]
        rates = PHASE_CPU_LRS
    return [(a, lr) for a in axis for lr in rates]


def run_uniform(family, kinds: list[str], control_stride: int, seed_counts: list[int], draw: int) -> list[dict]:
    """exponent_precision of each boundary of the family on the uniform grid with s seeds per cell, for s in
    seed_counts (ascending, within the family's seed range)."""
    cells = uniform_cells(family, control_stride)
    seeds = sorted(family.seeds)
    rows, units, states, done = [], 0, [], 0
    for s in seed_counts:
        for seed in seeds[done:s]:
            for a, lr in cells:
                spec = cell_spec(family, a, lr, seed)
                rows.append(row(spec, draw))
                units += network_units(spec)
        done = s
        table = pd.DataFrame(rows)
        states.append({"seeds": s, "networks": len(rows), "units": units,
                       "estimates": {k: exponent_precision(table, family.name, k) for k in kinds}})
    return states


# ---- the comparison -------------------------------------------------------------------------------------------------
def compare(boundaries, by_name, adaptive: list[dict], uniform: dict, workers: int) -> list[dict]:
    out = []
    for b in boundaries:
        fam = by_name[b.family]
        a_hit = next((s for s in adaptive if s["estimates"][b.key][1] <= b.target), None)
        a_at = a_hit or adaptive[-1]
        u_states = uniform[b.family]
        u_hit = next((s for s in u_states if s["estimates"][b.kind][1] <= b.target), None)
        u_best = min(u_states, key=lambda s: s["estimates"][b.kind][1])
        a_units = a_at["units"][b.family]
        u_equal = [s for s in u_states if s["units"] <= a_units]
        u_eq = u_equal[-1] if u_equal else None

        def adaptive_view(s):
            e, se = s["estimates"][b.key]
            return {"rounds": s["rounds"], "networks": s["networks"][b.family], "units": s["units"][b.family],
                    "core_hours": core_hours(s["units"][b.family]), "run_networks": s["run_networks"],
                    "wall_hours": core_hours(s["units"][b.family]) / workers,
                    "run_core_hours": core_hours(s["run_units"]),
                    "run_wall_hours": core_hours(s["run_units"]) / workers,
                    "exponent": e, "stderr": se}

        def uniform_view(s):
            if s is None:
                return None
            e, se = s["estimates"][b.kind]
            return {"seeds_per_cell": s["seeds"], "networks": s["networks"], "units": s["units"],
                    "core_hours": core_hours(s["units"]), "wall_hours": core_hours(s["units"]) / workers,
                    "exponent": e, "stderr": se}

        out.append({"boundary": b.key, "target": b.target, "truth": truth(fam, b.kind),
                    "adaptive": adaptive_view(a_at) | {"reached": a_hit is not None},
                    "uniform": uniform_view(u_hit or u_best) | {"reached": u_hit is not None},
                    "uniform_at_adaptive_cost": uniform_view(u_eq),
                    "uniform_one_seed_core_hours": core_hours(u_states[0]["units"]) if u_states else None})
    return out


def _num(v: float, digits: int = 3) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def print_tables(results: list[dict], final: dict, budget: float) -> None:
    print("\nTo reach the target (adaptive: the first round whose standard error is at or below it; uniform: the "
          "fewest seeds per cell that do). Networks and core-h of the boundary's family; run: both families of the "
          "adaptive run together; wall h = core-h / workers.\n")
    print("| boundary | target | truth | adaptive: networks | core-h (wall h) | run core-h (wall h) | SE | exponent "
          "| uniform: seeds/cell | networks | core-h (wall h) | SE | exponent | uniform / adaptive core-h |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        a, u = r["adaptive"], r["uniform"]
        a_note = "" if a["reached"] else f" (not reached by {a['run_core_hours']:.1f} run core-h)"
        u_note = "" if u["reached"] else f" (not reached; its lowest SE, at {u['seeds_per_cell']} seeds/cell)"
        ratio = f"{u['core_hours'] / a['core_hours']:.2f}" if a["reached"] and u["reached"] else "-"
        print(f"| {r['boundary']} | {r['target']} | {r['truth']} | {a['networks']}{a_note} "
              f"| {a['core_hours']:.2f} ({a['wall_hours']:.1f}) "
              f"| {a['run_core_hours']:.2f} ({a['run_wall_hours']:.1f}) "
              f"| {_num(a['stderr'])} | {_num(a['exponent'], 2)} "
              f"| {u['seeds_per_cell']}{u_note} | {u['networks']} | {u['core_hours']:.2f} ({u['wall_hours']:.1f}) "
              f"| {_num(u['stderr'])} | {_num(u['exponent'], 2)} | {ratio} |")
    print("\nAt equal cost (the uniform grid with the most seeds per cell costing no more than the adaptive run spent "
          "on the family when it reached the target, or at its end):\n")
    print("| boundary | adaptive core-h | adaptive SE | uniform seeds/cell | uniform core-h | uniform SE "
          "| uniform exponent |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        a, u = r["adaptive"], r["uniform_at_adaptive_cost"]
        if u is None:
            print(f"| {r['boundary']} | {a['core_hours']:.2f} | {_num(a['stderr'])} | - (1 seed/cell costs "
                  f"{r['uniform_one_seed_core_hours']:.2f}) | - | - | - |")
            continue
        print(f"| {r['boundary']} | {a['core_hours']:.2f} | {_num(a['stderr'])} | {u['seeds_per_cell']} "
              f"| {u['core_hours']:.2f} | {_num(u['stderr'])} | {_num(u['exponent'], 2)} |")
    print(f"\nAdaptive run: {final['rounds']} rounds, {final['run_networks']} networks, "
          f"{core_hours(final['run_units']):.2f} core-h (budget {budget} core-h), stop: {final['stop']}.")


def parse_targets(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items or []:
        key, _, value = item.partition("=")
        if not value:
            raise SystemExit(f"--targets takes KEY=VALUE (e.g. no_learning=0.15), got {item!r}")
        out[key] = float(value)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default="nopost,control",
                        help="comma-separated, of nopost and control (the families with a uniform CPU grid)")
    parser.add_argument("--budget", type=float, default=16.0, help="the adaptive run's budget, core-hours")
    parser.add_argument("--targets", nargs="*", metavar="KEY=SE",
                        help="standard-error targets by kind or key (no_learning=0.15 control/no_learning=0.05); "
                             "default generation.boundaries.DEFAULT_TARGETS")
    parser.add_argument("--max-rounds", type=int, default=200, help="a guard; the budget ends the run first")
    parser.add_argument("--uniform-seeds", default="all",
                        help="seeds per cell of the uniform grid: 'all' (1, 2, ... up to the family's seed range) "
                             "or a comma-separated ascending list")
    parser.add_argument("--control-rate-stride", type=int, default=2,
                        help="the uniform control grid takes every k-th of the paper's control rates 1 .. 0.0127 "
                             "(2: 7 rates, 0.32 decade apart)")
    parser.add_argument("--replicates", type=int, default=10,
                        help="independent draws of the synthetic outcomes (draw 0 is the tests'); the tables are "
                             "draw 0's, then medians over all draws")
    parser.add_argument("--workers", type=int, default=2, help="wall hours = core-hours / workers (idle machine)")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    by_name = {f.name: f for f in get_preset("paper").families}
    names = [n.strip() for n in args.families.split(",") if n.strip()]
    if not names or set(names) - {"nopost", "control"}:
        raise SystemExit(f"--families: choose among nopost, control (got {args.families!r})")
    families = [by_name[n] for n in names]
    config = make_config(families, parse_targets(args.targets), budget_core_hours=args.budget)
    counts = {f.name: list(range(1, len(f.seeds) + 1)) if args.uniform_seeds == "all" else
              [int(c) for c in args.uniform_seeds.split(",") if int(c) <= len(f.seeds)] for f in families}

    replicates = []
    for draw in range(args.replicates):
        verbose = draw == 0
        adaptive, last = run_adaptive(families, config, args.max_rounds, draw)
        final = adaptive[-1] | {"stop": last["stop"] if last and last["stop"] else "max rounds"}
        uniform = {f.name: run_uniform(f, [b.kind for b in config.boundaries if b.family == f.name],
                                       args.control_rate_stride, counts[f.name], draw) for f in families}
        results = compare(config.boundaries, by_name, adaptive, uniform, args.workers)
        replicates.append({"draw": draw, "results": results, "adaptive_final": final,
                           "adaptive_states": adaptive, "uniform_states": uniform})
        if verbose:
            print_progress(families, adaptive, uniform, args.control_rate_stride)
            print("\n## Draw 0 (tests/test_adaptive.py's synthetic outcomes)")
            print_tables(results, final, args.budget)
        print(f"draw {draw}: adaptive {final['rounds']} rounds, {core_hours(final['run_units']):.2f} core-h, "
              f"{final['stop']} ({time.perf_counter() - start:.0f} s so far)", flush=True)
    if args.replicates > 1:
        print_summary(replicates, config.boundaries)
    t_total = time.perf_counter() - start
    print(f"\n({t_total:.0f} s in all; SECONDS_PER_UNIT {SECONDS_PER_UNIT:g} core-s per unit)")
    settings = {k: v for k, v in vars(args).items() if k != "json"} | {"config": config.to_dict()}
    summary = {"settings": settings, "replicates": replicates, "seconds": t_total}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(_clean(summary), fh, indent=1)
    return summary


def print_progress(families, adaptive: list[dict], uniform: dict, control_stride: int) -> None:
    for s in adaptive:
        line = "  ".join(f"{k} {_num(e, 2)} +- {_num(se)}" for k, (e, se) in s["estimates"].items())
        print(f"adaptive after round {s['rounds'] - 1:>2}: {s['run_networks']:>5} networks "
              f"{core_hours(s['run_units']):6.2f} core-h   {line}")
    for fam in families:
        cells = len(uniform_cells(fam, control_stride))
        for s in uniform[fam.name]:
            if s["seeds"] in (1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100):
                line = "  ".join(f"{fam.name}/{k} {_num(e, 2)} +- {_num(se)}" for k, (e, se) in s["estimates"].items())
                print(f"uniform {fam.name} {cells} cells x {s['seeds']:>3} seeds: {s['networks']:>5} networks "
                      f"{core_hours(s['units']):6.2f} core-h   {line}")


def print_summary(replicates: list[dict], boundaries) -> None:
    """Medians over the draws: cost to reach the target, standard errors at equal cost, and how far the exponent
    was from the truth where each design stopped (reached the target)."""
    R = len(replicates)
    print(f"\n## Over {R} draws of the synthetic outcomes (medians [min, max]; a design that did not reach the "
          "target in a draw is left out of its cost; where the uniform grid did not reach it, the ratio is a lower "
          "bound, given apart)\n")
    print("| boundary | target | adaptive: reached | core-h | uniform: reached | core-h | uniform / adaptive core-h "
          "| SE at the adaptive run's cost: adaptive | uniform | exponent at the target, RMS error: adaptive "
          "| uniform | off by > 2 SE: adaptive | uniform |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for i, b in enumerate(boundaries):
        rows = [rep["results"][i] for rep in replicates]
        a_hit = [r for r in rows if r["adaptive"]["reached"]]
        u_hit = [r for r in rows if r["uniform"]["reached"]]
        ratio = [r["uniform"]["core_hours"] / r["adaptive"]["core_hours"] for r in a_hit if r["uniform"]["reached"]]
        bound = [r["uniform"]["core_hours"] / r["adaptive"]["core_hours"] for r in a_hit if not r["uniform"]["reached"]]
        ratio_text = _spread(ratio) + (f"; > {min(bound):.2f} in {len(bound)} draws" if bound else "")
        a_se = [r["adaptive"]["stderr"] for r in rows]
        u_se = [r["uniform_at_adaptive_cost"]["stderr"] if r["uniform_at_adaptive_cost"] else math.inf for r in rows]
        a_err = [(r["adaptive"]["exponent"] - r["truth"], r["adaptive"]["stderr"]) for r in a_hit]
        u_err = [(r["uniform"]["exponent"] - r["truth"], r["uniform"]["stderr"]) for r in u_hit]
        print(f"| {b.key} | {b.target} | {len(a_hit)}/{R} | {_spread([r['adaptive']['core_hours'] for r in a_hit])} "
              f"| {len(u_hit)}/{R} | {_spread([r['uniform']['core_hours'] for r in u_hit])} | {ratio_text} "
              f"| {_spread(a_se, 3)} | {_spread(u_se, 3)} | {_rms(a_err)} | {_rms(u_err)} "
              f"| {_off(a_err)} | {_off(u_err)} |")


def _spread(values: list[float], digits: int = 2) -> str:
    if not values:
        return "-"
    v = sorted(values)
    return f"{_num(statistics.median(v), digits)} [{_num(v[0], digits)}, {_num(v[-1], digits)}]"


def _rms(errors: list[tuple[float, float]]) -> str:
    return "-" if not errors else f"{math.sqrt(sum(e * e for e, _ in errors) / len(errors)):.3f}"


def _off(errors: list[tuple[float, float]]) -> str:
    """How many stops had the exponent more than two of its stated standard errors from the truth."""
    return "-" if not errors else f"{sum(abs(e) > 2 * se for e, se in errors)}/{len(errors)}"


def _clean(v):
    """JSON without NaN / Infinity: nan -> null, inf -> "inf"."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


if __name__ == "__main__":
    main()
