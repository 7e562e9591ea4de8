"""Generate a small zoo for real, load it back, query it and re-simulate its networks."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from safetensors import safe_open

import rnnzoo
from rnnzoo.labels import MECHANISMS


def test_zoo_folder_has_the_real_formats(quick_zoo):
    manifest = json.loads((quick_zoo / "manifest.json").read_text())
    assert manifest["format_version"] == rnnzoo.store.FORMAT_VERSION and manifest["n_networks"] == 12
    shards = sorted((quick_zoo / "weights").glob("*.safetensors"))
    assert len(shards) == 2  # many networks per shard, never one file per network
    with safe_open(str(shards[0]), framework="pt") as f:
        meta = f.metadata()
        assert meta["format"] == "pt" and meta["format_version"] == str(rnnzoo.store.FORMAT_VERSION)
        assert f.get_slice("W_rec").get_shape() == [6, 100, 100]
    table = pq.read_table(quick_zoo / "networks.parquet")
    assert table.schema.field("final_accuracy").type == "float"  # float32 stays float32
    df = table.to_pandas()
    assert set(df["delay_ms"]) == {20, 40} and df["lr"].nunique() == 2 and df["id"].is_unique
    assert set(df["mechanism"]) <= set(MECHANISMS)
    for rel, record in manifest["files"].items():
        assert (quick_zoo / rel).stat().st_size == record["bytes"]


def test_load_query_and_resimulate_reproduces_stored_accuracy(quick_zoo):
    zoo = rnnzoo.load(source=quick_zoo, delay=40)
    assert len(zoo) == 6 and set(zoo.metadata["delay_ms"]) == {40}
    for net in zoo:
        sim = net.simulate()
        assert sim.outputs.shape == (1, 128, 24, 2)
        assert float(sim.accuracy[0]) == pytest.approx(net.final_accuracy, abs=1e-6)
        assert float(sim.reliability[0]) == pytest.approx(net.final_reliability, abs=1e-5)
        assert float(sim.loss[0]) == pytest.approx(net.final_loss, rel=1e-4)
    batch = zoo.simulate()
    assert np.allclose(batch.accuracy.numpy(), zoo.metadata["final_accuracy"].to_numpy(), atol=1e-6)


def test_any_column_can_be_queried(quick_zoo):
    zoo = rnnzoo.load(source=quick_zoo)
    lr = float(zoo.metadata["lr"].min())
    assert len(rnnzoo.load(source=quick_zoo, lr=lr * (1 + 1e-5))) == 6  # float columns match to a tolerance
    assert len(zoo.filter(seed=[0, 2])) == 8
    assert len(zoo.filter(delay_ms=(30, 50))) == 6
    assert len(zoo.filter(final_loss=lambda s: s >= s.median())) >= 6
    mech = zoo.metadata["mechanism"].iloc[0]
    assert len(zoo.filter(mechanism=mech)) == int((zoo.metadata["mechanism"] == mech).sum())
    net = zoo[zoo.metadata["id"].iloc[3]]
    assert torch.equal(net.weights.W_rec, zoo.weights().W_rec[3:4])


def test_bad_queries_name_the_problem(quick_zoo):
    with pytest.raises(rnnzoo.QueryError, match=r"no network .* delay_ms = 50.*nearest|available: 20, 40"):
        rnnzoo.load(source=quick_zoo, delay=50)
    with pytest.raises(rnnzoo.QueryError, match="unknown column 'dely'.*delay_ms"):
        rnnzoo.load(source=quick_zoo, dely=40)
    with pytest.raises(ValueError, match="unknown mechanism 'spiral'.*cycle"):
        rnnzoo.load(source=quick_zoo, mechanism="spiral")
    with pytest.raises(FileNotFoundError, match="does not exist.*generation/run.py"):
        rnnzoo.load(source=quick_zoo / "nope")


def test_mechanism_aliases():
    assert rnnzoo.canonical_mechanism("limit_cycle") == "cycle"
    assert rnnzoo.canonical_mechanism("slow_point") == "manifold"
    assert rnnzoo.canonical_mechanism("sequence") == "manifold"
