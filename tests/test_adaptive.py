"""The adaptive planner (generation/boundaries.py) and the adaptive run (generation/adaptive.py, run.py --adaptive).

The planner's tests run it on synthetic phase diagrams (no training): a power-law boundary, a logistic seed
variability, outcomes drawn from each network's id. The end-to-end test trains for real, with very few steps.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest

import rnnzoo
from generation.boundaries import make_config, plan_round, round_jobs
from generation.jobs import job_paths
from generation.presets import get_preset
from generation.run import main as generate


def synthetic_outcome(spec) -> str:
    """A phase diagram like the paper's: learned below 0.3 (T / 120 ms)^-2.72, manifolds below 0.2 (T / 80)^-4.05,
    the control learned below 0.1 (R / 100)^-0.38, each with a logistic spread of 0.35 in ln lr."""
    u = [int(hashlib.sha256(f"{spec.id}{k}".encode()).hexdigest()[:12], 16) / 16**12 for k in "ab"]
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    if spec.family.target_held:
        return "learned" if u[0] < sig(math.log(0.1 * (spec.reaction_ms / 100) ** -0.38 / spec.lr) / 0.35) else "failed"
    T = max(spec.delay_ms, 1)
    if u[0] >= sig(math.log(0.3 * (T / 120) ** -2.72 / spec.lr) / 0.35):
        return "failed"
    return "manifold" if u[1] < sig(math.log(0.2 * (T / 80) ** -4.05 / spec.lr) / 0.35) else "cycle"


def simulate(families, config, rounds: int) -> tuple[pd.DataFrame, list[dict]]:
    """`rounds` rounds of the planner with synthetic outcomes: the table and the round records."""
    rows, records, first = [], [], 0
    for r in range(rounds):
        record = plan_round(pd.DataFrame(rows), families, config, r)
        records.append(record)
        if record["stop"]:
            break
        jobs = round_jobs(record, families, first)
        first += len(jobs)
        rows += [{"id": n.id, "family": n.family.name, "delay_ms": n.delay_ms, "reaction_ms": n.reaction_ms,
                  "lr": n.lr, "seed": n.seed, "mechanism": synthetic_outcome(n), "steps": n.steps,
                  "target_held": n.family.target_held, "synthetic": False} for j in jobs for n in j.networks]
    return pd.DataFrame(rows), records


@pytest.fixture(scope="module")
def paper_families():
    return {f.name: f for f in get_preset("paper").families}


def test_planner_is_a_pure_function_of_the_table(paper_families):
    families = [paper_families["nopost"], paper_families["control"]]
    config = make_config(families)
    table, records = simulate(families, config, 3)
    assert [r["stop"] for r in records] == [None, None, None]
    assert all(r["networks"] for r in records)
    reference = plan_round(table, families, config, 3)
    assert reference["networks"] and {c["why"] for c in reference["cells"]} <= {"bisect", "extend", "open", "refine"}
    shuffled = table.sample(frac=1.0, random_state=7).reset_index(drop=True)
    shuffled = shuffled[list(reversed(shuffled.columns))].assign(unrelated=np.arange(len(shuffled)))
    assert plan_round(shuffled, families, config, 3) == reference
    # Planning twice from the same rows, or from the planner's own records, gives the same jobs.
    again, records_again = simulate(families, config, 3)
    assert records_again == records and again.equals(table)
    # Another budget: the same moves in another quantity, decided from the table alone.
    smaller = make_config(families, budget_core_hours=1.0)
    assert plan_round(table, families, smaller, 3)["units"] <= smaller.round_units


def test_every_planned_network_is_a_network_of_the_paper_preset(paper_families):
    paper = {n.id: n for job in get_preset("paper").jobs() for n in job.networks}
    families = [paper_families[name] for name in ("nopost", "post", "longtau", "control")]
    config = make_config(families, budget_core_hours=20.0)
    table, records = simulate(families, config, 4)
    planned = [n for r in records if not r["stop"] for j in round_jobs(r, families, 0) for n in j.networks]
    assert len(planned) == len({n.id for n in planned}) == len(table) > 300
    for n in planned:
        ref = paper[n.id]  # the id exists in the paper's zoo ...
        assert (n.family, n.delay_ms, n.reaction_ms, n.lr, n.seed, n.steps) == \
            (ref.family, ref.delay_ms, ref.reaction_ms, ref.lr, ref.seed, ref.steps)  # ... with the same spec
    # Seeds are taken lowest first within each cell, inside each family's seed range.
    for (family, delay, reaction, lr), cell in table.groupby(["family", "delay_ms", "reaction_ms", "lr"]):
        assert sorted(cell["seed"]) == list(range(len(cell))), (family, delay, reaction, lr)
    boundaries = {b for r in records[1:] for b in r["estimates"]}
    assert boundaries == {"nopost/no_learning", "nopost/slow_point", "post/no_learning", "longtau/no_learning",
                          "longtau/slow_point", "control/no_learning"}


def test_stopping_rule_targets_and_budget(paper_families):
    families = [paper_families["control"]]
    # A target every estimate meets: the run stops once the estimate exists.
    easy = make_config(families, targets={"no_learning": 10.0}, budget_core_hours=50.0)
    _, records = simulate(families, easy, 12)
    assert records[-1]["stop"] == "targets reached"
    assert all(e["reached"] for e in records[-1]["estimates"].values())
    # A budget smaller than the coarse pass: nothing is trained.
    tight = make_config(families, budget_core_hours=0.1)
    record = plan_round(None, families, tight, 0)
    assert record["stop"] == "budget spent" and record["networks"] == []
    # The budget is checked before each round: a round starts only while some is left, so the run passes it by at
    # most one round's units; and a smaller budget's run is a prefix of a larger one's (a larger --budget resumes).
    budget = make_config(families, targets={"no_learning": 1e-6}, budget_core_hours=3.0)
    table, records = simulate(families, budget, 30)
    assert records[-1]["stop"] in ("budget spent", "grid exhausted")
    spent = [r["units_before"] for r in records]
    assert all(before < budget.budget_units for before in spent[:-1])
    assert spent[-1] <= budget.budget_units + budget.round_units
    larger = make_config(families, targets={"no_learning": 1e-6}, budget_core_hours=6.0)
    _, more = simulate(families, larger, len(records))
    assert [r["networks"] for r in more[: len(records) - 1]] == [r["networks"] for r in records[:-1]]


def test_adaptive_run_end_to_end_resumes_to_the_same_networks(tmp_path, capsys):
    out = tmp_path / "adaptive"
    command = ["--preset", "tiny-grid", "--adaptive", "--families", "nopost", "--out", str(out), "--max-steps", "5",
               "--device", "cpu", "--budget", "0.01", "--quiet"]
    assert generate(command) == 0
    printed = capsys.readouterr().out
    assert "round 0: 18 networks" in printed and "stop: grid exhausted" in printed
    zoo = rnnzoo.load(source=str(out))
    manifest = json.loads((out / "manifest.json").read_text())
    run = manifest["generation"]["adaptive_run"]
    assert run["stop"] == "grid exhausted" and len(run["rounds"]) == 3
    assert sorted(zoo.metadata["id"]) == sorted(i for r in run["rounds"] for i in r["networks"])
    assert manifest["generation"]["adaptive"]["boundaries"][0]["key"] == "nopost/no_learning"
    assert "adaptive/round-001.json" in manifest["files"]
    paper = {n.id for job in get_preset("tiny-grid").jobs() for n in job.networks}
    assert set(zoo.metadata["id"]) <= paper

    # Interrupted in round 1 (its last job unfinished, no manifest): the same command finishes the same zoo.
    cut = tmp_path / "interrupted"
    shutil.copytree(out, cut)
    last = max(int(p.stem.split("-")[1]) for p in (cut / "jobs").glob("job-*.json"))
    (cut / job_paths(last)["record"]).unlink()
    (cut / "manifest.json").unlink()
    assert generate([*command[:6], str(cut), *command[7:]]) == 0
    table, ref = (pd.read_parquet(root / "networks.parquet") for root in (cut, out))
    assert table["id"].tolist() == ref["id"].tolist()
    assert table["weights_sha256"].tolist() == ref["weights_sha256"].tolist()
    # Rerunning the finished command trains nothing new.
    records = {p.name: p.stat().st_mtime_ns for p in (cut / "jobs").glob("*.json")}
    capsys.readouterr()
    assert generate([*command[:6], str(cut), *command[7:]]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in (cut / "jobs").glob("*.json")} == records
    jobs = sorted(int(p.stem.split("-")[1]) for p in (cut / "jobs").glob("job-*.json"))
    assert jobs == list(range(last + 1))


def test_adaptive_benchmark_runs_on_these_outcomes(paper_families, tmp_path, capsys):
    """benchmarks/bench_adaptive.py draws the outcomes above (its draw 0) and prints its side-by-side table."""
    import importlib.util
    from pathlib import Path

    from generation.boundaries import cell_spec

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_adaptive.py"
    spec = importlib.util.spec_from_file_location("bench_adaptive", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    cells = [cell_spec(paper_families[name], a, lr, s) for name in ("nopost", "control")
             for a in (40.0, 120.0, 400.0) for lr in paper_families[name].lrs[::3] for s in (0, 7)]
    assert [bench.outcome(c) for c in cells] == [synthetic_outcome(c) for c in cells]
    assert [bench.outcome(c, 1) for c in cells] != [synthetic_outcome(c) for c in cells]
    out = tmp_path / "bench.json"
    summary = bench.main(["--budget", "1.2", "--replicates", "1", "--uniform-seeds", "1,2,3", "--json", str(out)])
    (draw,) = summary["replicates"]
    assert [r["boundary"] for r in draw["results"]] == ["nopost/no_learning", "nopost/slow_point",
                                                        "control/no_learning"]
    assert draw["adaptive_final"]["stop"] == "budget spent"
    assert [s["seeds"] for s in draw["uniform_states"]["nopost"]] == [1, 2, 3]
    assert json.loads(out.read_text())["replicates"][0]["results"][0]["target"] == 0.15
    assert "| nopost/no_learning | 0.15 | -2.72 |" in capsys.readouterr().out
