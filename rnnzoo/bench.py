"""Weight-space-learning benchmark tasks on a zoo, with OGB-style evaluators.

Each task fixes its inputs (which weights, which hyperparameters), its networks, its target, its splits (the
zoo's `split` column: by seed, rnnzoo.splits) and its metrics:

    mechanism     learned networks (cycle or manifold); final weights -> the mechanism's code, 1 cycle / 2 manifold
                  (rnnzoo.labels.MECHANISM_CODES, the table's `label`); accuracy and macro-F1
    learnability  every labelled network; initial weights (checkpoint step 0) plus lr and delay_ms ->
                  1 learned (cycle or manifold) / 0 not (failed or unstable); predictions are P(learned) in [0, 1];
                  accuracy (scores >= 0.5) and ROC-AUC
    delay         every labelled network; final weights -> delay_ms in milliseconds (one of the zoo's delays);
                  predictions in ms; accuracy (exact delay) and mean absolute error in ms

    import rnnzoo
    from rnnzoo.bench import Evaluator, task_splits
    zoo = rnnzoo.load("DIR")
    data = task_splits(zoo, "mechanism")          # {"train": (X, y), "validation": ..., "test": ...}
    X, y = data["test"]                           # X: {"W_in": [M, N, 2], ..., "lr": [M], "delay_ms": [M]}
    Evaluator("mechanism").eval(y, y_pred)        # {"accuracy": ..., "macro_f1": ...}

Initial weights come from the zoo's step-0 checkpoints (rnnzoo never imports the generator). A zoo kept without
checkpoints can still be used if the caller passes them: `task_data(zoo, "learnability", initial=weights)`, e.g.
generation.train.init_population(seeds) from a clone of the repository, which draws them from each seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from rnnzoo.dynamics import Weights
from rnnzoo.labels import LABEL_VALUES, MECHANISM_CODES
from rnnzoo.splits import SPLITS, check_split, splits_of

Zoo = Any  # a rnnzoo.Zoo, duck-typed: the Zoo module imports this one, never the other way round

LEARNED = ("cycle", "manifold")
LABELLED = ("failed", "cycle", "manifold", "unstable")


@dataclass(frozen=True)
class BenchTask:
    """One benchmark task: which networks, which inputs, which target, which metrics."""

    name: str
    description: str
    inputs: str  # "final" or "initial" weights
    extras: tuple[str, ...]  # hyperparameter columns given as inputs beside the weights
    mechanisms: tuple[str, ...]  # the networks: those whose `mechanism` is one of these
    classes: tuple[str, ...]  # names of the integer targets, indexed by their codes (empty: y is a value)
    codes: tuple[int, ...]  # the codes y takes in this task (empty: y is a value, see `unit`)
    target: str  # how y is made (see targets())
    unit: str  # what y and the predictions are, stated once: the Evaluator and the torch Dataset both follow it
    metrics: tuple[str, ...]
    prediction: str  # what eval() expects as y_pred


TASKS: dict[str, BenchTask] = {t.name: t for t in (
    BenchTask("mechanism", "the mechanism of a learned network from its final weights", "final", (), LEARNED,
              LABEL_VALUES, tuple(MECHANISM_CODES[m] for m in LEARNED), "mechanism",
              "the mechanism's code (rnnzoo.labels.MECHANISM_CODES, the table's `label`): 1 cycle, 2 manifold",
              ("accuracy", "macro_f1"), "the predicted code, 1 cycle or 2 manifold"),
    BenchTask("learnability", "whether a network learns, from its initial weights plus lr and delay_ms",
              "initial", ("lr", "delay_ms"), LABELLED, ("not_learned", "learned"), (0, 1), "learned",
              "1 learned (cycle or manifold), 0 not (failed or unstable)", ("accuracy", "roc_auc"),
              "P(learned), a probability or score in [0, 1]; accuracy thresholds it at 0.5"),
    BenchTask("delay", "the delay a network was trained on, from its final weights", "final", (), LABELLED, (), (),
              "delay_ms", "the delay in milliseconds (one of the zoo's delays)", ("accuracy", "mae_ms"),
              "the predicted delay in milliseconds (a finite number >= 0)"),
)}


def get_task(task: str | BenchTask) -> BenchTask:
    """The task named `task`; a ValueError listing the valid names otherwise."""
    if isinstance(task, BenchTask):
        return task
    if task not in TASKS:
        raise ValueError(f"unknown benchmark task {task!r}; the tasks are: "
                         + "; ".join(f"{t.name} ({t.description})" for t in TASKS.values()))
    return TASKS[task]


def network_splits(metadata: pd.DataFrame) -> np.ndarray:
    """The split of every network: the table's `split` column, or (tables assembled before it) the same rule
    applied to the seeds."""
    if "split" in metadata and metadata["split"].notna().all():
        return metadata["split"].to_numpy(dtype=object)
    return splits_of(metadata["seed"].to_numpy())


def select(zoo: "Zoo", task: str | BenchTask, split: str | None = None) -> "Zoo":
    """The networks of `task` (in `split`, or all), in the zoo's order."""
    task = get_task(task)
    check_split(split)
    meta = zoo.metadata
    mask = meta["mechanism"].isin(task.mechanisms).to_numpy().copy()
    if split is not None:
        mask &= network_splits(meta) == split
    return zoo[mask]


def targets(task: str | BenchTask, metadata: pd.DataFrame) -> np.ndarray:
    """y of the networks in `metadata`: class indices into task.classes, or delay_ms for the delay task."""
    task = get_task(task)
    if task.target == "mechanism":
        return metadata["mechanism"].map(MECHANISM_CODES).to_numpy(np.int64)
    if task.target == "learned":
        return metadata["mechanism"].isin(LEARNED).to_numpy(np.int64)
    if task.target == "delay_ms":
        return metadata["delay_ms"].to_numpy(np.int64)
    raise ValueError(f"task {task.name!r} has an unknown target {task.target!r}")


def initial_weights(zoo: "Zoo") -> Weights:
    """Every network's initial weights (checkpoint step 0), or a ValueError naming the fix."""
    meta = zoo.metadata
    if "checkpoint_steps" not in meta or meta["checkpoint_steps"].isna().any():
        raise ValueError(f"this zoo ({zoo.source.name}) keeps no step-0 checkpoints, so the initial weights are not "
                         "stored: generate it with checkpoints (`python generation/run.py --preset NAME --checkpoints 2 "
                         "--out DIR`), or pass them: task_data(zoo, task, initial=generation.train."
                         "init_population(zoo.metadata['seed']))")
    return zoo.checkpoints(step=0)


def task_data(zoo: "Zoo", task: str | BenchTask, split: str | None = None, initial: Weights | None = None
              ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(X, y) of one task on one split (None: every network of the task). X maps W_in, b_in, W_rec, b_rec, W_out,
    b_out to float32 arrays [M, ...] (final or initial weights, as the task says) and each extra hyperparameter to
    [M]; y is task.target per network. `initial`: the initial weights of every network of `zoo` (in its order), for
    zoos kept without checkpoints."""
    task = get_task(task)
    part = select(zoo, task, split)
    if not len(part):
        raise ValueError(f"no network of task {task.name!r} in split {split!r} of this zoo (it holds "
                         f"{len(zoo)} networks; splits go by seed, rnnzoo.splits)")
    if task.inputs == "initial":
        if initial is not None:
            if initial.n_networks != len(zoo):
                raise ValueError(f"initial holds {initial.n_networks} networks for a zoo of {len(zoo)}; pass one per "
                                 "network of the zoo, in its order")
            positions = np.flatnonzero(np.isin(zoo.metadata["id"].to_numpy(), part.metadata["id"].to_numpy()))
            weights = initial.select(positions.tolist())
        else:
            weights = initial_weights(part)
    else:
        weights = part.weights()
    X = {name: tensor.cpu().numpy() for name, tensor in weights.tensors().items()}
    X.update({name: part.metadata[name].to_numpy(np.float64) for name in task.extras})
    return X, targets(task, part.metadata)


def task_splits(zoo: "Zoo", task: str | BenchTask, initial: Weights | None = None
                ) -> dict[str, tuple[dict[str, np.ndarray], np.ndarray]]:
    """{split: (X, y)} for every split of the task that has networks in this zoo."""
    out = {}
    for split in SPLITS:
        try:
            out[split] = task_data(zoo, task, split, initial)
        except ValueError as exc:
            if "no network of task" not in str(exc):
                raise
    return out


# ---- metrics -----------------------------------------------------------------------------------------------------
def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(y_true == y_pred))


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted mean of the per-class F1 over the classes in y_true or y_pred (F1 = 0 where a class is never
    predicted right)."""
    scores = []
    for c in np.union1d(y_true, y_pred):
        tp = np.sum((y_pred == c) & (y_true == c))
        fp, fn = np.sum((y_pred == c) & (y_true != c)), np.sum((y_pred != c) & (y_true == c))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (the Mann-Whitney statistic, ties counted half); NaN when y_true has one class."""
    y_true = y_true.astype(bool)
    n_pos, n_neg = int(y_true.sum()), int((~y_true).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    return float((ranks[y_true].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


class Evaluator:
    """OGB-style evaluator of one task: `Evaluator("mechanism").eval(y_true, y_pred)` -> {metric: value}."""

    def __init__(self, task: str | BenchTask):
        self.task = get_task(task)
        self.metrics = self.task.metrics

    @property
    def expected_input_format(self) -> str:
        t = self.task
        return (f"eval(y_true, y_pred) for task {t.name!r}: 1-D arrays of numbers of equal length; y_true: {t.unit}; "
                f"y_pred: {t.prediction}")

    def eval(self, y_true: Sequence | np.ndarray, y_pred: Sequence | np.ndarray) -> dict[str, float]:
        y_true = _vector(y_true, "y_true", self.expected_input_format)
        y_pred = _vector(y_pred, "y_pred", self.expected_input_format)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"y_true has {y_true.size} entries and y_pred {y_pred.size}; "
                             f"{self.expected_input_format}")
        if not y_true.size:
            raise ValueError(f"nothing to evaluate: y_true is empty; {self.expected_input_format}")
        codes = self.task.codes
        if codes and not np.isin(y_true, codes).all():
            bad = y_true[~np.isin(y_true, codes)][0]
            raise ValueError(f"y_true holds {bad:g}, which is not a code of this task {list(codes)}; "
                             f"{self.expected_input_format}")
        if self.task.name == "mechanism" and not np.isin(y_pred, codes).all():
            bad = y_pred[~np.isin(y_pred, codes)][0]
            hint = (" (0/1 class indices? this task uses the mechanism codes 1 cycle / 2 manifold everywhere)"
                    if np.isin(y_pred, (0, 1)).all() else "")
            raise ValueError(f"y_pred holds {bad:g}, not one of the task's codes {list(codes)}{hint}; "
                             f"{self.expected_input_format}")
        if self.task.name == "delay" and (y_pred < 0).any():
            raise ValueError(f"y_pred holds a negative delay ({y_pred.min():g}); {self.expected_input_format}")
        if self.task.name == "learnability":
            if y_pred.min() < 0 or y_pred.max() > 1:
                raise ValueError(f"y_pred holds values outside [0, 1]; {self.expected_input_format}")
            return {"accuracy": accuracy(y_true.astype(int), (y_pred >= 0.5).astype(int)),
                    "roc_auc": roc_auc(y_true, y_pred)}
        if self.task.name == "delay":
            return {"accuracy": accuracy(y_true, y_pred), "mae_ms": float(np.mean(np.abs(y_true - y_pred)))}
        return {"accuracy": accuracy(y_true, y_pred), "macro_f1": macro_f1(y_true, y_pred)}


def _vector(values: Sequence | np.ndarray, name: str, expected: str) -> np.ndarray:
    try:
        array = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold numbers, got {np.asarray(values).dtype} values such as "
                         f"{np.asarray(values).reshape(-1)[:1].tolist()}; {expected}") from None
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per network), got shape {array.shape}; {expected}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values; {expected}")
    return array
