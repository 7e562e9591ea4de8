"""The weight-space benchmark: splits, the Parquet views read by Hugging Face `datasets`, the torch Dataset, the
evaluator and its tasks, on real generated zoos (conftest's quick_zoo) and the embedded sample."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import rnnzoo
from rnnzoo.splits import SPLITS, split_of, splits_of
from rnnzoo.store import CHECKPOINTS_VIEW_DIR, WEIGHTS_VIEW_DIR, read_manifest
from rnnzoo.verify import verify_zoo


def test_split_rule_is_by_seed_and_small_zoos_get_every_split():
    assert [split_of(s) for s in range(3)] == ["train", "validation", "test"]
    assert set(splits_of(range(6))) == set(SPLITS)  # the 6-seed sample
    counts = {name: int((splits_of(range(100)) == name).sum()) for name in SPLITS}
    assert counts == {"train": 60, "validation": 20, "test": 20}
    assert split_of(13) == split_of(3) == "train"


def test_assembled_zoo_has_a_split_per_seed(quick_zoo):
    meta = rnnzoo.load(source=quick_zoo).metadata
    assert set(meta["split"]) == set(SPLITS)
    assert (meta.groupby("seed")["split"].nunique() == 1).all()
    assert list(meta["split"]) == list(splits_of(meta["seed"]))


def test_weights_config_loads_with_datasets(quick_zoo):
    datasets = pytest.importorskip("datasets")
    assert os.environ.get("HF_DATASETS_OFFLINE") == "1"
    zoo = rnnzoo.load(source=quick_zoo)
    ds = datasets.load_dataset(str(quick_zoo), "weights")
    assert set(ds) == set(SPLITS)
    assert sum(len(ds[s]) for s in SPLITS) == len(zoo)
    assert "label" not in ds["train"].column_names  # one mechanism column, a ClassLabel
    weights = zoo.weights()
    position = {i: k for k, i in enumerate(zoo.metadata["id"])}
    for split in SPLITS:
        part = ds[split].with_format("numpy")
        assert set(part["split"]) == {split}
        for row in part:
            k = position[row["id"]]
            assert row["mechanism"] == zoo.metadata["label"].iloc[k]  # the table's code, in every split
            assert row["outcome"] in ("learned", "failed", "unstable")
            for name, tensor in weights.tensors().items():  # the safetensors values, bit for bit
                assert np.array_equal(row[name], tensor[k].numpy()), name
    from rnnzoo.labels import LABEL_VALUES

    for config in ("networks", "weights", "checkpoints"):  # one ClassLabel, the same names and codes everywhere
        for split, part in datasets.load_dataset(str(quick_zoo), config).items():
            feature = part.features["mechanism"]
            assert isinstance(feature, datasets.ClassLabel) and feature.names == list(LABEL_VALUES), (config, split)
            ids = part["id"]
            names = [feature.int2str(int(k)) for k in part["mechanism"]]
            assert names == list(zoo.metadata.set_index("id").loc[ids, "mechanism"]), (config, split)


def test_views_keep_class_names_for_every_parquet_reader(quick_zoo):
    views = sorted(quick_zoo.glob("*-parquet/*.parquet"))
    assert views, "the quick zoo has no Parquet views"
    for path in views:
        frame = pd.read_parquet(path, columns=["id", "mechanism", "outcome"])
        assert set(frame["mechanism"]) <= {"failed", "cycle", "manifold", "unstable", "learned"}, path
        assert set(frame["outcome"]) <= {"learned", "failed", "unstable"}, path


def test_checkpoints_config_loads_with_datasets(quick_zoo):
    datasets = pytest.importorskip("datasets")
    zoo = rnnzoo.load(source=quick_zoo)
    ds = datasets.load_dataset(str(quick_zoo), "checkpoints")
    assert sum(len(ds[s]) for s in SPLITS) == sum(len(s) for s in zoo.metadata["checkpoint_steps"])
    net = zoo[0]
    steps, weights = net.checkpoints()
    rows = ds[net.split].filter(lambda r: r["id"] == net.id).with_format("numpy")
    assert list(rows["step"]) == steps
    assert np.array_equal(np.stack(list(rows["W_rec"])), weights.W_rec.numpy())


def test_views_are_in_the_manifest(quick_zoo):
    files = read_manifest(quick_zoo)["files"]
    for folder in (WEIGHTS_VIEW_DIR, CHECKPOINTS_VIEW_DIR):
        assert {f"{folder}/{s}-00000.parquet" for s in SPLITS} <= set(files)
    assert verify_zoo(quick_zoo) == []


# ---- rnnzoo.bench: tasks, data and evaluator ------------------------------------------------------------------
from rnnzoo.bench import TASKS, Evaluator, task_data, task_splits  # noqa: E402


def test_bad_task_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="mechanism.*learnability.*delay"):
        Evaluator("mechanisms")


def test_task_splits_follow_the_split_column(quick_zoo):
    zoo = rnnzoo.load(source=quick_zoo)
    meta = zoo.metadata
    for name, task in TASKS.items():
        data = task_splits(zoo, name)
        assert set(data) == set(SPLITS)
        for split, (X, y) in data.items():
            members = meta[(meta["split"] == split) & meta["mechanism"].isin(task.mechanisms)]
            assert X["W_rec"].shape == (len(members), 100, 100) == (len(y), 100, 100)
            assert X["W_rec"].dtype == np.float32 and set(task.extras) <= set(X)
            if name == "delay":  # rows in the zoo's order, so the targets are the members' own delays
                assert np.array_equal(y, members["delay_ms"].to_numpy())
    X, y = task_data(zoo, "mechanism", "test")
    assert set(y) <= {1, 2}  # the mechanism codes: 1 cycle, 2 manifold
    X, y = task_data(zoo, "delay")
    assert sorted(set(y)) == [20, 40]


def test_learnability_inputs_are_the_step0_checkpoints_the_generator_draws(quick_zoo):
    from generation.train import init_population

    zoo = rnnzoo.load(source=quick_zoo)
    X, y = task_data(zoo, "learnability")  # every network is labelled, so the order is the zoo's
    initial = init_population(zoo.metadata["seed"].tolist())
    for name, tensor in initial.tensors().items():
        assert np.array_equal(X[name], tensor.numpy()), name
    assert np.array_equal(y, zoo.metadata["mechanism"].isin(["cycle", "manifold"]).to_numpy())
    assert np.allclose(X["lr"], zoo.metadata["lr"]) and np.array_equal(X["delay_ms"], zoo.metadata["delay_ms"])
    X2, _ = task_data(zoo, "learnability", initial=initial)  # the path for zoos kept without checkpoints
    assert np.array_equal(X2["W_rec"], X["W_rec"])


def test_zoo_without_checkpoints_names_the_fix(quick_zoo):
    zoo = rnnzoo.load(source=quick_zoo)
    meta = zoo.metadata.copy()
    meta["checkpoint_steps"] = None
    bare = type(zoo)(meta, zoo.source, zoo.manifest)
    with pytest.raises(ValueError, match="--checkpoints 2"):
        task_data(bare, "learnability")


def test_evaluator_metrics():
    assert Evaluator("mechanism").eval([1, 1, 2, 2], [1, 2, 2, 2]) == pytest.approx(
        {"accuracy": 0.75, "macro_f1": (2 / 3 + 0.8) / 2})
    out = Evaluator("learnability").eval(np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9]))
    assert out == pytest.approx({"accuracy": 0.5, "roc_auc": 0.75})
    assert Evaluator("delay").eval([20, 40, 200], [20, 80, 100]) == pytest.approx(
        {"accuracy": 1 / 3, "mae_ms": (0 + 40 + 100) / 3})
    with pytest.raises(ValueError, match="outside"):
        Evaluator("learnability").eval([0, 1], [0, 2])
    with pytest.raises(ValueError, match="entries"):
        Evaluator("mechanism").eval([1, 2], [1])


@pytest.mark.parametrize("task, y_true, y_pred, message", [
    ("mechanism", [1, 2], [0, 1], r"y_pred holds 0, not one of the task's codes \[1, 2\] \(0/1 class indices\?"),
    ("mechanism", [1, 2], [1, 7], r"y_pred holds 7, not one of the task's codes \[1, 2\]; eval\(y_true, y_pred\)"),
    ("mechanism", ["cycle", "manifold"], [1, 2], r"y_true must hold numbers, got <U8 values such as \['cycle'\]; "
                                                  r".*1 cycle, 2 manifold"),
    ("mechanism", [0, 3], [1, 2], r"y_true holds 0, which is not a code of this task"),
    ("delay", [20, 40], [-1, 40], r"y_pred holds a negative delay \(-1\); .*milliseconds"),
    ("learnability", [0, 2], [0.1, 0.2], r"y_true holds 2, which is not a code of this task \[0, 1\]"),
])
def test_evaluator_refuses_what_is_not_the_tasks_unit(task, y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        Evaluator(task).eval(y_true, y_pred)


def test_one_mechanism_encoding_in_table_dataset_and_evaluator(quick_zoo):
    from rnnzoo.labels import MECHANISM_CODES

    zoo = rnnzoo.load(source=quick_zoo)
    X, y = task_data(zoo, "mechanism")
    learned = zoo.metadata[zoo.metadata["mechanism"].isin(["cycle", "manifold"])]
    assert list(y) == list(learned["label"]) == [MECHANISM_CODES[m] for m in learned["mechanism"]]
    ds = zoo.torch_dataset(target="mechanism", split=None)
    assert [ds.classes[int(t)] for t in ds.targets] == list(learned["mechanism"])
    assert Evaluator("mechanism").eval(y, ds.targets.numpy())["accuracy"] == 1.0
    delay = zoo.torch_dataset(target="delay", split=None)  # in ms, as the Evaluator expects
    assert Evaluator("delay").eval(task_data(zoo, "delay")[1], delay.targets.numpy()) == {"accuracy": 1.0,
                                                                                          "mae_ms": 0.0}


def test_sample_splits_by_seed_without_a_split_column():
    zoo = rnnzoo.load()  # assembled before the split column: the same rule applies to its seeds
    parts = {name: zoo.split(name) for name in SPLITS}
    assert sum(len(p) for p in parts.values()) == len(zoo)
    assert all(len(p) for p in parts.values())
    assert {name: sorted(set(p.metadata["seed"])) for name, p in parts.items()} == {
        "train": [0, 3, 4, 5], "validation": [1], "test": [2]}


# ---- rnnzoo.weightspace: the torch Dataset and the permutation symmetry ------------------------------------------
def test_torch_dataset_with_a_dataloader(quick_zoo):
    import torch

    zoo = rnnzoo.load(source=quick_zoo)
    ds = zoo.torch_dataset(target="mechanism", split="train")
    X, y = task_data(zoo, "mechanism", "train")
    assert len(ds) == len(y) and ds.classes == ("failed", "cycle", "manifold", "unstable", "learned")
    x0, y0 = ds[0]
    assert x0.shape == (2 * 100 + 100 + 100 * 100 + 100 + 2 * 100 + 2,) and y0.dtype == torch.int64
    assert torch.equal(x0[200:300], torch.as_tensor(X["b_in"][0]))
    batch_x, batch_y = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch_x.shape[0] == min(4, len(ds)) and batch_y.tolist() == list(y[:4])
    structured = zoo.torch_dataset(target="learnability", split=None, flat=False)
    item, _ = structured[0]
    assert item["W_rec"].shape == (100, 100) and set(item) >= {"lr", "delay_ms"}
    delay = zoo.torch_dataset(target="delay", split=None)
    assert delay.delays == (20, 40) and delay.targets.dtype == torch.float32
    assert delay.targets.tolist() == list(task_data(zoo, "delay")[1])
    with pytest.raises(ValueError, match="splits are"):
        zoo.torch_dataset(split="dev")


def test_permuting_hidden_units_preserves_the_function(quick_zoo):
    import torch

    from rnnzoo.dynamics import Weights, simulate
    from rnnzoo.weightspace import permute_hidden

    zoo = rnnzoo.load(source=quick_zoo)
    net = zoo[0]
    weights = net.weights
    perm = torch.randperm(weights.n_units, generator=torch.Generator().manual_seed(3))
    permuted = Weights(**permute_hidden(weights.tensors(), perm))
    assert not torch.equal(permuted.W_rec, weights.W_rec)
    inputs = net.task().inputs()
    out, rates = simulate(weights, inputs, net.alpha)
    out_p, rates_p = simulate(permuted, inputs, net.alpha)
    assert torch.allclose(out_p, out, atol=1e-5)
    assert torch.allclose(rates_p, rates[..., perm], atol=1e-5)
    ds = zoo.torch_dataset(target="learnability", split=None, flat=False, permute=True, seed=1)
    item, _ = ds[0]
    plain, _ = zoo.torch_dataset(target="learnability", split=None, flat=False)[0]
    assert not torch.equal(item["W_rec"], plain["W_rec"])
    assert torch.allclose(torch.linalg.eigvals(item["W_rec"]).abs().sort().values,
                          torch.linalg.eigvals(plain["W_rec"]).abs().sort().values, atol=1e-4)


def test_baselines_script_runs_on_a_real_zoo(quick_zoo, tmp_path, capsys):
    pytest.importorskip("sklearn", reason="the linear baselines need scikit-learn: pip install -e '.[bench]'")
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_weightspace.py"
    spec = importlib.util.spec_from_file_location("bench_weightspace", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "results.json"
    assert module.main(["--source", str(quick_zoo), "--seeds", "2", "--dws-seeds", "1", "--json", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    assert set(results) == set(TASKS)
    for name, res in results.items():
        expected = set(module.BASELINES) - ({"hyperparams"} if name == "delay" else set())
        expected -= {b for b, only in module.ONLY_ON.items() if name not in only}
        assert set(res["results"]) == expected, name
        assert len(res["results"]["deepsets"]) == len(res["results"]["probing"]) == 2
        assert len(res["results"]["dws"]) == 1 and set(res["seconds"]) == expected
        for runs in res["results"].values():
            for run in runs:
                assert set(run["test"]) == set(TASKS[name].metrics)
    assert "| mechanism |" in capsys.readouterr().out


# ---- rnnzoo.encoders: the spectral, equivariant and probing encoders on real networks -------------------------------
def _sample_and_permuted(n: int = 12):
    """n networks of the embedded sample (cycles and manifolds among them), their alphas, and the same networks
    with their hidden units permuted (rnnzoo.weightspace.permute_hidden)."""
    import torch

    from rnnzoo.dynamics import Weights
    from rnnzoo.weightspace import permute_hidden

    zoo = rnnzoo.load()
    meta = zoo.metadata
    picks = list(meta.index[meta["mechanism"] == "cycle"][: n // 2]) + list(
        meta.index[meta["mechanism"] == "manifold"][: n - n // 2])
    weights = zoo.weights().select(picks)
    perm = torch.randperm(weights.n_units, generator=torch.Generator().manual_seed(7))
    permuted = Weights(**permute_hidden(weights.tensors(), perm))
    assert not torch.equal(permuted.W_rec, weights.W_rec)
    return weights, permuted, torch.as_tensor(meta["alpha"].to_numpy()[picks]), meta["mechanism"].to_numpy()[picks]


def test_spectral_features_are_permutation_invariant_and_find_fixed_points():
    import torch

    from rnnzoo.dynamics import step_map
    from rnnzoo.encoders import cue_inputs, fixed_points, spectral_features

    weights, permuted, alpha, _ = _sample_and_permuted()
    feats = spectral_features(weights, alpha)
    assert torch.allclose(spectral_features(permuted, alpha), feats, atol=1e-4)
    radius = torch.linalg.eigvals(weights.W_rec.double()).abs().amax(1)
    assert torch.allclose(feats[:, 0].double(), radius, rtol=1e-5)  # the first feature: W_rec's spectral radius
    w = weights.to(dtype=torch.float64)
    starts = torch.zeros(w.n_networks, 1, w.n_units, dtype=torch.float64)
    points, residuals = fixed_points(w, starts)
    converged = residuals < 1e-8
    assert converged.float().mean() > 0.5, residuals
    after = step_map(w, points, alpha)  # the one definition of the dynamics leaves a fixed point in place
    assert torch.allclose(after[converged], points[converged], atol=1e-7)
    assert cue_inputs(10).sum((1, 2)).tolist() == [6.0, 6.0, 0.0]  # a 30 ms cue on each channel, then silence


def test_probe_features_are_permutation_invariant_deterministic_and_functional():
    import torch

    from rnnzoo.dynamics import simulate
    from rnnzoo.encoders import PROBE_STRIDE, in_chunks, probe_features, probe_inputs

    weights, permuted, alpha, mechanism = _sample_and_permuted()
    feats = probe_features(weights, alpha)
    assert torch.equal(probe_features(weights, alpha), feats)  # fixed probes, no noise
    assert torch.allclose(in_chunks(probe_features, weights, alpha, chunk=5), feats, atol=1e-5)  # one net, its own
    assert torch.allclose(probe_features(permuted, alpha), feats, atol=1e-4)
    probes = probe_inputs()
    assert torch.equal(probes, probe_inputs()) and probes.shape[0] == 7
    outputs, _ = simulate(weights.to(dtype=torch.float64), probes.double(), alpha)  # the features start with them
    n_out = outputs[:, :, ::PROBE_STRIDE].flatten(1).shape[1]
    assert torch.allclose(feats[:, :n_out], outputs[:, :, ::PROBE_STRIDE].flatten(1).float())
    # after a cue, a limit cycle keeps moving while a slow-point manifold settles: the late log speed tells them apart
    n_steps = probes.shape[1] // PROBE_STRIDE
    speed = feats[:, n_out:n_out + probes.shape[0] * n_steps].view(len(feats), probes.shape[0], n_steps)
    late = speed[:, :2, -5:].mean((1, 2))
    assert late[mechanism == "cycle"].median() > late[mechanism == "manifold"].median() + 1


def test_dws_layers_are_equivariant_and_the_network_invariant_on_real_weights():
    import torch

    from rnnzoo.encoders import DWSNet, EquivariantLayer, graph_of

    weights, permuted, _, _ = _sample_and_permuted()
    edges, nodes = graph_of(weights.tensors())
    edges_p, nodes_p = graph_of(permuted.tensors())
    torch.manual_seed(0)
    layer = EquivariantLayer(1, nodes.shape[-1], 5, 3, products=2)
    out_e, out_n = layer(edges, nodes)
    out_ep, out_np = layer(edges_p, nodes_p)
    perm = torch.randperm(weights.n_units, generator=torch.Generator().manual_seed(7))  # the one used above
    assert torch.allclose(out_ep, out_e[:, perm][:, :, perm], atol=1e-5)  # P E P^T in, P E' P^T out
    assert torch.allclose(out_np, out_n[:, perm], atol=1e-5)
    assert not torch.allclose(out_ep, out_e, atol=1e-3)  # equivariant, not invariant: the units move
    net = DWSNet(n_extras=0, n_out=2, products=2)
    extras = torch.zeros(len(edges), 0)
    with torch.no_grad():
        logits, logits_p = net(edges, nodes, extras), net(edges_p, nodes_p, extras)
    assert torch.allclose(logits_p, logits, atol=1e-5)
    assert (logits - logits.mean(0)).abs().max() > 1e-4  # it tells networks apart
