"""rnnzoo.load and Zoo/Network on a zoo generated for real: the query language, the collection, bad input."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

import rnnzoo
from rnnzoo.query import apply_query
from rnnzoo.store import read_shard


@pytest.fixture
def zoo_copy(quick_zoo, tmp_path):
    """A private copy of the quick zoo that a test may damage."""
    return shutil.copytree(quick_zoo, tmp_path / "zoo")


def test_query_forms_select_the_rows_pandas_would(quick_zoo):
    zoo = rnnzoo.load(quick_zoo)
    meta = zoo.metadata
    lrs = sorted(meta["lr"].unique())
    assert set(rnnzoo.load(quick_zoo, delay=40).metadata["id"]) == set(meta.loc[meta.delay_ms == 40, "id"])
    assert len(zoo.filter(seed=[0, 2], delay=20)) == int(((meta.seed != 1) & (meta.delay_ms == 20)).sum())
    assert len(zoo.filter(lr=(lrs[0], lrs[0]))) == int((meta.lr == lrs[0]).sum())  # inclusive float range
    assert len(zoo.filter(lr=(None, lrs[0] * (1 + 5e-4)))) == int((meta.lr == lrs[0]).sum())  # open, tolerant
    assert len(zoo.filter(learning_rate=lrs[1] * (1 - 5e-4))) == int((meta.lr == lrs[1]).sum())
    assert len(zoo.filter(lr=np.float32(lrs[1]))) == int((meta.lr == lrs[1]).sum())  # float32 rounding matches
    high = zoo.filter(final_loss=lambda s: s > s.median())
    assert set(high.metadata["id"]) == set(meta.loc[meta.final_loss > meta.final_loss.median(), "id"])
    mechanism = meta["mechanism"].iloc[0]
    alias = {"cycle": "limit_cycle", "manifold": "slow_point", "unstable": "unstable"}.get(mechanism, mechanism)
    assert len(zoo.filter(mechanism=alias)) == int((meta.mechanism == mechanism).sum())
    assert len(zoo.filter(mechanism=[alias])) == int((meta.mechanism == mechanism).sum())


@pytest.mark.parametrize("query, message", [
    ({"dely": 40}, r"unknown column 'dely'\. Did you mean delay_ms\?.*Columns: id, family, delay_ms"),
    ({"delay": 50}, r"no network .* delay_ms = 50; available: 20, 40"),
    ({"delay": "40"}, r"column 'delay_ms' holds numbers; got '40' \(str\)"),
    ({"family": 3}, r"column 'family' holds text"),
    ({"cue_held": 1}, r"column 'cue_held' holds True or False"),
    ({"delay": []}, r"empty list for 'delay_ms'"),
    ({"delay": (40, 20)}, r"range for 'delay_ms' is empty: low 40 > high 20"),
    ({"delay": (1, 2, 3)}, r"must be \(low, high\)"),
    ({"delay": (100, 200)}, r"delay_ms in the range \(100, 200\); available: 20, 40"),
    ({"delay": lambda s: s.to_numpy()[:3] > 0}, r"callable for 'delay_ms' must return one True/False per network"),
    ({"id": "nopost-d040-lr1.000e-01-s009"}, r"available: nopost-d020"),
    ({"delay": 20, "seed": 5}, r"seed = 5"),
    ({"mechanism": "fixed"}, r"unknown mechanism 'fixed'.*`dynamics_label` column"),
    ({"mechanism": ["cycle", "fixd"]}, r"unknown mechanism 'fixd'"),
])
def test_bad_queries_are_clear_errors(quick_zoo, query, message):
    with pytest.raises(rnnzoo.QueryError, match=message):
        rnnzoo.load(quick_zoo, **query)


def test_absent_values_list_the_nearest_and_ids_the_closest():
    table = pd.DataFrame({"delay_ms": np.repeat(np.arange(0, 410, 10), 2).astype(np.int32),
                          "lr": np.tile([0.1, 0.01], 41), "id": [f"net-{i:03d}" for i in range(82)]})
    with pytest.raises(rnnzoo.QueryError, match=r"nearest available: 40, 50, 60 \(41 distinct values\)"):
        apply_query(table, {"delay_ms": 55})
    with pytest.raises(rnnzoo.QueryError, match=r"closest available: .*net-012"):
        apply_query(table, {"id": "net-0120"})
    with pytest.raises(rnnzoo.QueryError, match=r"no network .* matches all of delay_ms=0, lr=0\.5|lr = 0.5"):
        apply_query(table, {"delay_ms": 0, "lr": 0.5})


def test_zoo_is_a_sequence_of_networks(quick_zoo):
    zoo = rnnzoo.load(quick_zoo)
    ids = list(zoo.metadata["id"])
    assert len(zoo) == 12 and [net.id for net in zoo] == ids
    assert zoo[0].id == ids[0] and zoo[-1].id == ids[-1] and zoo[ids[5]].id == ids[5]
    assert list(zoo[2:5].metadata["id"]) == ids[2:5] and list(zoo[[7, 1]].metadata["id"]) == [ids[7], ids[1]]
    mask = (zoo.metadata["delay_ms"] == 20).to_numpy()
    assert list(zoo[mask].metadata["id"]) == [i for i, m in zip(ids, mask) if m]
    with pytest.raises(IndexError, match="out of range for a zoo of 12"):
        zoo[12]
    with pytest.raises(KeyError, match="no network with id 'nope'"):
        zoo["nope"]
    a, b = zoo.sample(5, seed=3), zoo.sample(5, seed=3)
    assert list(a.metadata["id"]) == list(b.metadata["id"]) and len(set(a.metadata["id"])) == 5
    assert list(zoo.sample(5, seed=4).metadata["id"]) != list(a.metadata["id"])
    with pytest.raises(ValueError, match="cannot sample 13 networks from a zoo of 12"):
        zoo.sample(13)
    assert zoo.to("cpu").device == torch.device("cpu") and len(zoo.to("cpu")) == 12
    text = repr(zoo)
    counts = pd.crosstab(zoo.metadata["delay_ms"], zoo.metadata["mechanism"])
    assert "12 networks" in text and "delay_ms x mechanism" in text
    for mechanism in counts.columns:
        assert mechanism in text
    first_row = next(line for line in text.splitlines() if line.startswith("20"))
    assert [int(x) for x in first_row.split()[1:]] == list(counts.loc[20]) + [int(counts.loc[20].sum())]


def test_weights_follow_the_zoo_order_and_match_the_shards(quick_zoo):
    zoo = rnnzoo.load(quick_zoo)
    order = [9, 0, 4, 11, 3, 6]  # rows from both shards, scattered, out of order
    weights = zoo[order].weights()
    assert weights.W_rec.shape == (6, 100, 100) and weights.W_in.shape == (6, 100, 2)
    for k, i in enumerate(order):
        row = zoo.metadata.iloc[i]
        expected = read_shard(quick_zoo / row["shard"], [int(row["row"])])
        for name, tensor in expected.tensors().items():
            assert torch.equal(getattr(weights, name)[k], tensor[0]), (name, i)
    everything = zoo.weights()
    for k, i in enumerate(order):
        assert torch.equal(everything.W_rec[i], weights.W_rec[k])


def test_curves_come_back_in_zoo_order(quick_zoo):
    zoo = rnnzoo.load(quick_zoo)[[5, 2, 8]]
    curves = zoo.curves()
    assert list(curves["id"]) == list(zoo.metadata["id"])
    assert all(len(c) == 120 for c in curves["loss"])


def test_network_hyperparameters_task_module_and_simulation(quick_zoo):
    net = rnnzoo.load(quick_zoo, delay=40, seed=1)[0]
    assert net.delay_ms == 40 and net.seed == 1 and net.n_units == 100 and net.lr > 0
    task = net.task()
    assert task.delay_ms == 40 and net.task(delay_ms=60).delay_ms == 60
    assert net.weights.W_rec.shape == (1, 100, 100)
    module = net.to_module()
    assert isinstance(module, torch.nn.Module) and torch.equal(module.W_rec.detach(), net.weights.W_rec[0])
    sim = net.simulate(noise=False)
    outputs, rates = module(task.inputs(), r0=sim.rates[0, :, 0])
    assert torch.allclose(outputs, sim.outputs[0], atol=1e-5)
    assert float(net.simulate().accuracy[0]) == pytest.approx(net.final_accuracy, abs=1e-6)


def test_mixed_delays_simulate_per_task(quick_zoo):
    zoo = rnnzoo.load(quick_zoo)[[0, 1, 6, 7]]  # two delays
    assert set(zoo.metadata["delay_ms"]) == {20, 40}
    with pytest.raises(ValueError, match="mixes 2 tasks.*simulate_by_task"):
        zoo.simulate()
    groups = zoo.simulate_by_task()
    assert [task.delay_ms for task, _, _ in groups] == [20, 40]
    for task, part, sim in groups:
        assert sim.outputs.shape[:3] == (2, task.n_trials, task.n_steps)
        assert np.allclose(sim.accuracy.numpy(), part.metadata["final_accuracy"].to_numpy(), atol=1e-6)
    one = zoo.simulate(task=rnnzoo.Task(delay_ms=20))
    assert one.outputs.shape[0] == 4


def test_corrupted_shard_is_a_checksum_error_naming_the_file(zoo_copy):
    zoo = rnnzoo.load(zoo_copy)
    shard = zoo_copy / zoo.metadata["shard"].iloc[0]
    data = bytearray(shard.read_bytes())
    data[-5] ^= 0xFF  # one flipped bit pattern in the last network's weights: same size, different content
    shard.write_bytes(bytes(data))
    fresh = rnnzoo.load(zoo_copy)
    in_shard = fresh.metadata.index[fresh.metadata["shard"] == zoo.metadata["shard"].iloc[0]]
    last = int(in_shard[fresh.metadata.loc[in_shard, "row"].to_numpy().argmax()])
    with pytest.raises(rnnzoo.ChecksumError, match=rf"{shard.name} \(first: {fresh.metadata['id'][last]}\).*sha256"):
        fresh[[last]].weights()  # each network read is checked against its own recorded sha256
    with pytest.raises(rnnzoo.ChecksumError, match=shard.name):
        _ = rnnzoo.load(zoo_copy)[last].weights  # a Network's lazy weights go through the same check
    first = int(in_shard[fresh.metadata.loc[in_shard, "row"].to_numpy().argmin()])
    assert torch.equal(fresh[[first]].weights().W_rec, zoo[[first]].weights().W_rec)  # intact networks still load
    assert any(shard.name in problem for problem in rnnzoo.verify.verify_zoo(zoo_copy))  # verify checks every byte
    shard.write_bytes(bytes(data[: len(data) // 2]))  # truncated: even the size check catches it
    with pytest.raises(rnnzoo.ZooFormatError, match=shard.name):
        rnnzoo.load(zoo_copy, verify=False)[[0]].weights()


def test_garbled_header_is_reported_without_verification(zoo_copy):
    zoo = rnnzoo.load(zoo_copy)
    shard = zoo_copy / zoo.metadata["shard"].iloc[0]
    data = bytearray(shard.read_bytes())
    data[10:20] = b"\x00" * 10  # inside the JSON header, same size
    shard.write_bytes(bytes(data))
    with pytest.raises(rnnzoo.ZooFormatError, match=rf"{shard.name} cannot be read .*damaged"):
        rnnzoo.load(zoo_copy, verify=False)[[0]].weights()


def test_newer_format_version_is_refused_with_the_fix(zoo_copy):
    manifest = json.loads((zoo_copy / "manifest.json").read_text())
    manifest["format_version"] = rnnzoo.store.FORMAT_VERSION + 1
    (zoo_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(rnnzoo.ZooFormatError, match=r"newer than this rnnzoo reads.*upgrade rnnzoo: pull its repository"):
        rnnzoo.load(zoo_copy)


def test_missing_folder_and_unfinished_zoo(zoo_copy, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*generation/run.py"):
        rnnzoo.load(tmp_path / "nowhere")
    (zoo_copy / "manifest.json").unlink()
    with pytest.raises(rnnzoo.ZooFormatError, match="holds no finished zoo.*rerun"):
        rnnzoo.load(zoo_copy)


def test_a_device_this_machine_lacks_fails_at_once_naming_it(quick_zoo):
    zoo = rnnzoo.load(quick_zoo, delay=20)
    missing = f"cuda:{torch.cuda.device_count()}"  # one past the last GPU: absent on every machine
    with pytest.raises(rnnzoo.DeviceUnavailable, match=rf"'{missing}'"):
        zoo.to(missing)
    with pytest.raises(rnnzoo.DeviceUnavailable, match="not a torch device name"):
        zoo.to("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(rnnzoo.DeviceUnavailable, match="no CUDA GPU is visible here.*use 'cpu'"):
            zoo.to("cuda")
        with pytest.raises(rnnzoo.DeviceUnavailable, match="no CUDA GPU"):
            zoo[0].simulate(device="cuda")
    assert zoo.to("cpu").device == torch.device("cpu")
