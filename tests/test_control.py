"""The no-memory control family end to end (control-cpu preset, capped steps): the reference's protocol and labels,
early stops recorded, the stored metrics reproduced by Network.simulate, and the reference's analysis and figure."""

from __future__ import annotations

import numpy as np
import pytest

import rnnzoo
from generation.presets import get_preset
from generation.run import main as generate
from rnnzoo.figures import make_figures
from rnnzoo.labels import LABEL_VALUES
from rnnzoo.phases import PAPER_EXPONENTS, reference_control_fit
from rnnzoo.store import DIAGNOSTIC_COLUMNS, LABEL_COLUMNS

STEPS = 30


@pytest.fixture(scope="module")
def control_zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo") / "control-cpu"
    assert generate(["--preset", "control-cpu", "--out", str(root), "--max-steps", str(STEPS), "--device", "cpu"]) == 0
    return root


def test_control_preset_is_the_reference_grid():
    """The paper preset's control family: 20 response lengths (l + 1) * 20 ms x logspace(0, -3, 20) x 20 seeds,
    3000 steps, the reference's protocol."""
    fam = next(f for f in get_preset("paper").families if f.name == "control")
    assert fam.reactions_ms == tuple(float((l + 1) * 20) for l in range(20)) and fam.delays_ms == (0,)
    assert np.allclose(fam.lrs, np.logspace(0, -3, 20)) and len(fam.seeds) == 20 and fam.steps(0.1) == 3000
    task = fam.task(0, 100.0)
    assert (task.target_held, task.readout, task.weighted, task.cue_held, fam.stop_loss) == (True, "linear", False,
                                                                                             False, 100.0)


def test_control_cpu_zoo_is_labelled_as_the_reference_labels_it(control_zoo):
    zoo = rnnzoo.load(source=control_zoo)
    df = zoo.metadata
    assert len(df) == 60 and set(df["reaction_ms"]) == {20.0, 60.0, 140.0, 300.0} and set(df["delay_ms"]) == {0}
    assert (df["readout"] == "linear").all() and df["target_held"].all() and not df["weighted_loss"].any()
    assert set(df["mechanism"]) <= {"learned", "failed"}
    assert (df["label"] == [LABEL_VALUES.index(m) for m in df["mechanism"]]).all()
    for name in LABEL_COLUMNS[2:] + DIAGNOSTIC_COLUMNS:
        assert df[name].isna().all(), name  # no mechanism test for the control
    early = df["early_stopped"].astype(bool)
    assert early.any(), "lr = 1 blows up within a few steps: some networks must stop early"
    assert (df.loc[early, "steps"] < STEPS).all() and (df.loc[~early, "steps"] == STEPS).all()
    assert (df.loc[early, "mechanism"] == "failed").all()
    assert rnnzoo.load(source=control_zoo, mechanism="learned").metadata["mechanism"].eq("learned").all()


def test_control_networks_resimulate_with_their_linear_readout(control_zoo):
    zoo = rnnzoo.load(source=control_zoo)
    df = zoo.metadata
    net = zoo[int(np.flatnonzero(~df["early_stopped"].astype(bool).to_numpy())[0])]
    assert net.task().readout == "linear" and net.task().target_held
    sim = net.simulate()
    assert float(sim.accuracy[0]) == pytest.approx(net.final_accuracy, abs=1e-6)
    assert float(sim.loss[0]) == pytest.approx(net.final_loss, rel=1e-4)
    assert (sim.outputs < 0).any() or (sim.outputs > 1).any()  # not squashed by a sigmoid
    assert net.to_module().readout == "linear"


def test_reference_control_analysis_and_figure_run(control_zoo, tmp_path):
    zoo = rnnzoo.load(source=control_zoo)
    res = reference_control_fit(zoo)
    assert [e["response_ms"] for e in res["per_length"]] == [20.0, 60.0, 140.0, 300.0]
    for entry in res["per_length"]:
        assert len(entry["lrs"]) == 5 and all(0 <= f <= 1 for f in entry["not_learned"]) and sum(entry["n"]) == 15
    assert res["paper"]["exponent"] == PAPER_EXPONENTS["control/no_learning"][0]
    out = make_figures(zoo, tmp_path / "fig", n_boot=10)
    with open(out["figures"]["control"]["control"], "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert out["results"]["control"]["per_length"] == res["per_length"]
