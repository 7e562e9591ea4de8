"""The paper's labels, checked against an independent implementation of the reference's recipe.

The recipe below is written from the reference repository's description (fatihdinc/dynamical-phases-stm:
src/rnn.py's forward step, sort_data.py's extended run and PSD test, train_parallel.py's scoring), not from
rnnzoo.labels: an nn.Linear-style step loop in float32 over a batch of trials that records the states after each
update (cue on input channel 1), a random initial state and fresh noise from the global torch RNG, torch.pca_lowrank
itself on each trial's states, torch.corrcoef, a T x T 2-D FFT and an np.ogrid disc. Its randomness is its own
(the global RNG), so it shares nothing with rnnzoo but the weights: the two must agree in distribution, i.e. give
the same share of cycle draws within sampling error.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import rnnzoo
from rnnzoo.labels import LABEL_DRAWS, label_draws, mechanism_scores, paper_metrics, paper_target_class, paper_window
from rnnzoo.task import Task


def recipe_psd_ratios(W_in, b_in, W_rec, b_rec, alpha, trial_steps, n_trials, generator):
    """The reference's PSD ratio of n_trials independent draws of its sort_data.py run (each a trial of its batch:
    its own random start and noise), each with its own torch.pca_lowrank draw."""
    T = 9 * trial_steps
    u = torch.zeros(T, 2)
    u[:6, 1] = 1.0  # the first trial of the reference's batch: cue on input channel 1
    r = torch.tanh(torch.randn(n_trials, W_rec.shape[0], generator=generator) * 0.1)
    states = []
    for t in range(T):
        noise = torch.randn(n_trials, W_rec.shape[0], generator=generator) * 0.001
        r = (1 - alpha) * r + alpha * torch.tanh(u[t] @ W_in.T + b_in + r @ W_rec.T + b_rec + noise)
        states.append(r)
    fr = torch.stack(states, dim=1)  # [trials, T, N]
    ratios = []
    for k in range(n_trials):
        torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))  # pca_lowrank draws from the global RNG
        _, _, V = torch.pca_lowrank(fr[k])
        low = fr[k] @ V[:, :2]
        power = torch.abs(torch.fft.fftshift(torch.fft.fft2(torch.corrcoef(low)))) ** 2
        h, w = power.shape
        X, Y = np.ogrid[:h, :w]
        mask = np.sqrt((X - h // 2) ** 2 + (Y - w // 2) ** 2) <= 3
        ratios.append(float(power[torch.as_tensor(mask)].sum() / power.sum()))
    return np.array(ratios)


def test_psd_and_axes_are_the_reference_computations_made_cheaper():
    """The 1-D FFT form of the PSD ratio equals the reference's T x T corrcoef + 2-D FFT + disc, and the batched
    randomised PCA gives torch.pca_lowrank's axes from the same random start."""
    from rnnzoo.labels import psd_ratio_of, randomized_pca_axes

    g = torch.Generator().manual_seed(0)
    rates = torch.tanh(torch.randn(4, 150, 100, generator=g, dtype=torch.float64).cumsum(1) * 0.1)
    starts = torch.randn(4, 100, 6, generator=g, dtype=torch.float64)
    axes = randomized_pca_axes(rates, starts)
    for k in range(4):
        torch.manual_seed(11 + k)
        expected_start = torch.randn(100, 6, dtype=torch.float64)  # what pca_lowrank draws first after this seed
        torch.manual_seed(11 + k)
        _, _, V = torch.pca_lowrank(rates[k])
        mine = randomized_pca_axes(rates[k : k + 1], expected_start.unsqueeze(0))[0]
        assert torch.allclose(mine, V[:, :2], atol=1e-10)
        low = rates[k] @ axes[k]
        power = torch.abs(torch.fft.fftshift(torch.fft.fft2(torch.corrcoef(low)))) ** 2
        h, w = power.shape
        X, Y = np.ogrid[:h, :w]
        mask = torch.as_tensor(np.sqrt((X - h // 2) ** 2 + (Y - w // 2) ** 2) <= 3)
        assert float(psd_ratio_of(low.unsqueeze(0))[0]) == pytest.approx(float(power[mask].sum() / power.sum()),
                                                                           abs=1e-12)


def sample_networks(ids):
    zoo = rnnzoo.load(id=list(ids))
    return [zoo[i] for i in range(len(zoo))]


# Learned networks of the embedded sample: the three whose stored share is lowest (the reference's label really is
# random there: cycle in roughly 1 draw of 3 to 1 of 20) and two clear-cut ones.
def uncertain_and_clear(n_uncertain=3):
    meta = rnnzoo.load().metadata
    learned = meta[meta["mechanism"].isin(["cycle", "manifold"])].sort_values(["mechanism_share", "id"])
    return list(learned["id"].iloc[:n_uncertain]), [learned[learned["mechanism"] == m]["id"].iloc[-1]
                                                     for m in ("cycle", "manifold")]


@pytest.mark.slow
def test_cycle_share_matches_an_independent_recipe_near_the_threshold():
    uncertain, clear = uncertain_and_clear()
    n_recipe, n_ours = 120, 301
    generator = torch.Generator().manual_seed(2024)
    for net in sample_networks(uncertain + clear):
        w, task = net.weights, net.task()
        recipe = recipe_psd_ratios(w.W_in[0], w.b_in[0], w.W_rec[0], w.b_rec[0], float(net.alpha), task.n_steps,
                                   n_recipe, generator)
        ours, _ = label_draws(w, task, float(net.alpha), [int(net.seed)], n_draws=n_ours)
        p_recipe, p_ours = (recipe < 0.5).mean(), (ours.numpy()[0] < 0.5).mean()
        pooled = ((recipe < 0.5).sum() + (ours.numpy()[0] < 0.5).sum()) / (n_recipe + n_ours)
        sigma = math.sqrt(max(pooled * (1 - pooled), 1 / n_recipe) * (1 / n_recipe + 1 / n_ours))
        assert abs(p_recipe - p_ours) < 4 * sigma, (net.id, p_recipe, p_ours, sigma)
        if net.id in clear:
            assert p_recipe in (0.0, 1.0) and p_ours == p_recipe, net.id
        # The zoo stores the modal label of LABEL_DRAWS draws of the same recipe, and the share behind it.
        cycle_share = net.info["mechanism_share"] if net.mechanism == "cycle" else 1 - net.info["mechanism_share"]
        assert abs(cycle_share - p_recipe) < 4 * math.sqrt(max(pooled * (1 - pooled), 1 / n_recipe)
                                                         * (1 / n_recipe + 1 / LABEL_DRAWS)), net.id
    # the stored labels of the uncertain networks are really uncertain (else this test checks nothing near 0.5)
    shares = [n.info["mechanism_share"] for n in sample_networks(uncertain)]
    assert min(shares) < 0.9, shares


def test_the_stored_label_is_the_modal_label_of_its_draws(quick_zoo):
    zoo = rnnzoo.load(source=quick_zoo)
    table = zoo.classify(progress=False)
    for i, net in enumerate(zoo):
        scores = mechanism_scores(net.weights, net.task(), float(net.alpha), [int(net.seed)])
        draws = scores["draw_ratios"][0]
        assert draws.shape == (LABEL_DRAWS,)
        votes = int((draws < 0.5).sum())
        modal = "cycle" if 2 * votes > LABEL_DRAWS else "manifold"
        assert scores["psd_label"][0] == modal == table["psd_label"].iloc[i]
        assert scores["mechanism_share"][0] == pytest.approx(max(votes, LABEL_DRAWS - votes) / LABEL_DRAWS)
        if net.mechanism in ("cycle", "manifold"):
            assert net.mechanism == modal
            assert net.info["mechanism_share"] == pytest.approx(scores["mechanism_share"][0])
        else:
            assert net.info["mechanism_share"] is None or np.isnan(net.info["mechanism_share"])


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
