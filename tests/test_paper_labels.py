"""The paper's labels, checked against an independent implementation of the reference's recipe.

The recipe below is written from the reference repository's description (fatihdinc/dynamical-phases-stm:
src/rnn.py's forward step, sort_data.py's extended run and PSD test, train_parallel.py's scoring), not from
rnnzoo.labels: an nn.Linear-style step loop that records the states after each update, the first trial of the
batch (cue on input channel 1), torch.pca_lowrank, torch.corrcoef, an np.ogrid disc. Only the random initial
rates and noise are shared with rnnzoo (drawn from the network's analysis stream), so that the two can be
compared number for number; the randomised PCA leaves the relative sign of the two axes to chance, so the
recipe's ratio must equal one of rnnzoo's two sign conventions.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnzoo
from rnnzoo.dynamics import STREAM_ANALYSIS, initial_and_noise, stream_generator
from rnnzoo.labels import paper_metrics, paper_target_class, paper_window
from rnnzoo.task import Task


def recipe_psd_ratio(W_in, b_in, W_rec, b_rec, alpha, trial_steps, r0, noise, cue_channel=1):
    """One network, the reference's way: 9 trial lengths, cue on `cue_channel` for 6 steps, states after each update."""
    T = 9 * trial_steps
    u = torch.zeros(T, 2, dtype=torch.float64)
    u[:6, cue_channel] = 1.0
    r = r0.double()
    states = []
    for t in range(T):
        z = torch.tanh(u[t] @ W_in.double().T + b_in.double() + r @ W_rec.double().T + b_rec.double() + noise[t].double())
        r = (1 - alpha) * r + alpha * z
        states.append(r)
    fr = torch.stack(states)
    _, _, V = torch.pca_lowrank(fr)
    low = fr @ V[:, :2]
    power = torch.abs(torch.fft.fftshift(torch.fft.fft2(torch.corrcoef(low)))) ** 2
    h, w = power.shape
    X, Y = np.ogrid[:h, :w]
    mask = np.sqrt((X - h // 2) ** 2 + (Y - w // 2) ** 2) <= 3
    return float(power[torch.as_tensor(mask)].sum() / power.sum())


def test_reference_label_agrees_with_an_independent_recipe(quick_zoo):
    zoo = rnnzoo.load(source=quick_zoo)
    table = zoo.classify(progress=False)
    torch.manual_seed(0)  # the recipe's randomised PCA
    for i, net in enumerate(zoo):
        task, w = net.task(), net.weights
        L = task.n_steps
        gen = [stream_generator(int(net.seed), STREAM_ANALYSIS)]
        r0, noise = initial_and_noise(gen, 1, 9 * L + 1, w.W_rec)
        ratio = recipe_psd_ratio(w.W_in[0], w.b_in[0], w.W_rec[0], w.b_rec[0], float(net.alpha), L, r0[0, 0],
                                 noise[0, 0])
        row = table.iloc[i]
        candidates = [row["psd_ratio"], row["psd_ratio_flipped"]]
        assert min(abs(ratio - c) for c in candidates) < 1e-4, (net.id, ratio, candidates)
        recipe_label = "cycle" if ratio < 0.5 else "manifold"
        if row["label_firm"]:
            assert recipe_label == row["reference_label"], net.id
        # the zoo's stored label is the same computation
        if net.mechanism in ("cycle", "manifold"):
            assert net.mechanism == row["reference_label"]


def test_a_perfect_network_scores_as_the_reference_scores_it():
    """A network that answers every reaction step right (0.99 on the cued channel) and leans toward the cue during
    the delay (0.02 against 0.01): the reference's window starts on an all-zero target step, whose arg-max is
    channel 0 for both cues, and never scores the last reaction step, so it scores accuracy 0.95 and reliability
    0.941 at 50 ms; at 300 ms the float truncation adds a second all-zero step (0.90 and 0.892)."""
    for delay, acc, rel in ((50, 0.95, 0.9409), (300, 0.90, 0.8919)):
        task = Task(delay_ms=delay)
        y = task.targets()
        o = y * 0.98 + 0.01  # sigmoid outputs never reach 0 or 1
        delay_steps = slice(task.cue_steps, task.reaction_window.start)
        for cue in (0, 1):
            o[task.cues() == cue, delay_steps, cue] = 0.02
        window = paper_window(task)
        accuracy, reliability = paper_metrics(o[:, window].unsqueeze(0), paper_target_class(task, window))
        assert float(accuracy[0]) == pytest.approx(acc, abs=1e-4)
        assert float(reliability[0]) == pytest.approx(rel, abs=5e-4)


def test_a_zoo_of_the_previous_format_is_refused_with_the_fix(quick_zoo, tmp_path):
    """Format version 1 zoos carry labels that are not the paper's: load names the problem and the way out."""
    import json
    import shutil

    from rnnzoo.store import ZooFormatError

    root = shutil.copytree(quick_zoo, tmp_path / "old-zoo")
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["format_version"] = 1
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ZooFormatError, match=r"format version 1, older than this rnnzoo reads \(2\).*regenerate"):
        rnnzoo.load(source=root)
