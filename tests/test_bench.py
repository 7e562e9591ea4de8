"""The weight-space benchmark: splits, the Parquet views read by Hugging Face `datasets`, the torch Dataset, the
evaluator and its tasks, on real generated zoos (conftest's quick_zoo) and the embedded sample."""

from __future__ import annotations

import os

import numpy as np
import pytest

import rnnzoo
from rnnzoo.splits import SPLITS, split_of, splits_of
from rnnzoo.store import CHECKPOINTS_VIEW_DIR, WEIGHTS_VIEW_DIR, read_manifest, verify_zoo


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
    assert "label" not in ds["train"].column_names  # class names only, never bare codes
    weights = zoo.weights()
    position = {i: k for k, i in enumerate(zoo.metadata["id"])}
    for split in SPLITS:
        part = ds[split].with_format("numpy")
        assert set(part["split"]) == {split}
        for row in part:
            k = position[row["id"]]
            assert row["mechanism"] == zoo.metadata["mechanism"].iloc[k]
            assert row["outcome"] in ("learned", "failed", "unstable")
            for name, tensor in weights.tensors().items():  # the safetensors values, bit for bit
                assert np.array_equal(row[name], tensor[k].numpy()), name


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
