"""A zoo as a torch Dataset for weight-space learning, and the hidden-unit permutation symmetry.

    ds = zoo.torch_dataset(target="mechanism", split="train", flat=True, permute=False, device="cpu")
    x, y = ds[0]                 # x: flat float32 vector (or a dict of tensors), y: the task's target
    ds.classes                   # names indexed by the codes: ds.classes[y] is 'cycle' or 'manifold'
    torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True)

Targets are the rnnzoo.bench tasks (mechanism, learnability, delay) in the units each task states once
(BenchTask.unit), so a model's predictions go to rnnzoo.bench.Evaluator as they are: the mechanism as its code
(int64, 1 cycle / 2 manifold, rnnzoo.labels.MECHANISM_CODES), learnability as 0/1 (int64), the delay in
milliseconds (float32; ds.delays lists the zoo's delays for a classification head).

Permuting the hidden units of a network (the same permutation P applied to W_in rows, b_in, b_rec, W_rec rows
and columns, and W_out columns) leaves its function unchanged: the rates are permuted and the readout undoes it.
Weight-space models either respect this symmetry or learn it from permuted copies (permute=True).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rnnzoo.bench import get_task, task_data
from rnnzoo.devices import checked_device
from rnnzoo.dynamics import Weights

Zoo = Any  # a rnnzoo.Zoo, duck-typed: the Zoo module imports this one, never the other way round


def permute_hidden(tensors: dict[str, torch.Tensor], perm: torch.Tensor) -> dict[str, torch.Tensor]:
    """The weights with hidden units reordered by `perm` (unit k of the result is unit perm[k] of the input);
    works on one network or a stack [M, ...]. The network's outputs are unchanged (up to float rounding)."""
    return {
        "W_in": tensors["W_in"].index_select(-2, perm),
        "b_in": tensors["b_in"].index_select(-1, perm),
        "W_rec": tensors["W_rec"].index_select(-2, perm).index_select(-1, perm),
        "b_rec": tensors["b_rec"].index_select(-1, perm),
        "W_out": tensors["W_out"].index_select(-1, perm),
        "b_out": tensors["b_out"],
        **{k: v for k, v in tensors.items() if k not in Weights.names()},
    }


def flatten(tensors: dict[str, torch.Tensor], extras: tuple[str, ...] = ()) -> torch.Tensor:
    """One network's weights as a flat vector in the order W_in, b_in, W_rec, b_rec, W_out, b_out, then extras."""
    parts = [tensors[name].reshape(-1) for name in Weights.names()]
    parts += [tensors[name].reshape(-1) for name in extras]
    return torch.cat(parts)


class WeightDataset(torch.utils.data.Dataset):
    """Networks of one rnnzoo.bench task and split as (weights, target) pairs, held on `device`.

    flat=True yields a float32 vector (flatten(); hyperparameter inputs such as lr and delay_ms appended last, as
    listed in `feature_names`); flat=False a dict of tensors (W_in [N, 2], ..., and each extra as a scalar).
    permute=True draws a fresh random permutation of the hidden units at every access, from a generator seeded
    with `seed` (reproducible in access order)."""

    def __init__(self, zoo: "Zoo", target: str = "mechanism", split: str | None = "train", flat: bool = True,
                 permute: bool = False, device: str | torch.device = "cpu", seed: int = 0,
                 initial: Weights | None = None):
        self.task = get_task(target)
        self.device = checked_device(device)
        X, y = task_data(zoo, self.task, split, initial)
        self.extras = self.task.extras
        self.tensors = {name: torch.as_tensor(np.asarray(X[name], np.float32), device=self.device)
                        for name in (*Weights.names(), *self.extras)}
        self.classes: tuple = self.task.classes
        self.delays = tuple(int(d) for d in sorted(zoo.metadata["delay_ms"].unique()))
        dtype = torch.int64 if self.task.codes else torch.float32  # codes, or a value in the task's unit (ms)
        self.targets = torch.as_tensor(np.array(y), dtype=dtype, device=self.device)
        self.flat, self.permute = flat, permute
        self.generator = torch.Generator().manual_seed(seed)
        self.n_units = int(self.tensors["W_rec"].shape[-1])
        self.feature_names = (*Weights.names(), *self.extras)

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor | dict[str, torch.Tensor], torch.Tensor]:
        item = {name: tensor[index] for name, tensor in self.tensors.items()}
        if self.permute:
            perm = torch.randperm(self.n_units, generator=self.generator).to(self.device)
            item = permute_hidden(item, perm)
        return (flatten(item, self.extras) if self.flat else item), self.targets[index]
