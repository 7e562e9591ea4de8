"""rnnzoo.analysis on networks whose mechanism is known by construction, and on a generated zoo."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import rnnzoo
from rnnzoo.analysis import classify, diagnose
from rnnzoo.dynamics import Weights

N = 100
DELAY_MS = 50.0  # trial of 26 steps: 6 cue + 10 delay + 10 reaction


def rotation(period: float, gain: float, alpha: float, embed: bool = False, seed: int = 0) -> rnnzoo.Network:
    """A 2-D rotation by 2 pi / period with gain > 1 (tanh saturation makes the cycle stable), in 2 of N units or
    embedded in a random orthonormal plane; the outputs read the phase."""
    th = 2 * np.pi / period
    R = gain * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    W = np.zeros((N, N))
    if embed:
        Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((N, 2)))
        W = Q @ R @ Q.T
        readout = Q[:, 0]
    else:
        W[:2, :2] = R
        readout = np.eye(N)[0]
    W_in = np.zeros((N, 2))
    W_in[0, 0], W_in[1, 1] = 1.0, 1.0
    W_out = np.stack([5 * readout, -5 * readout])
    return rnnzoo.Network.from_weights(W_rec=W, W_in=W_in, W_out=W_out, alpha=alpha, delay_ms=DELAY_MS)


def chain(length: int = 30, alpha: float = 0.5) -> rnnzoo.Network:
    """The cue starts a pulse that runs along a chain of units (feed-forward, gain 3) and leaves: the activity
    then settles on the fixed point 0, where dF/dx = (1 - alpha) I (nilpotent W_rec)."""
    W = np.zeros((N, N))
    for i in range(length - 1):
        W[i + 1, i] = 3.0
    W_in = np.zeros((N, 2))
    W_in[0] = 3.0
    W_out = np.zeros((2, N))
    W_out[0, length - 1] = 5.0
    return rnnzoo.Network.from_weights(W_rec=W, W_in=W_in, W_out=W_out, alpha=alpha, delay_ms=DELAY_MS)


def line_attractor(readout_gain: float = 20.0, seed: int = 1) -> rnnzoo.Network:
    """W_rec = u u^T: a line of (near-)fixed points along u; cue 0 pushes along +u, cue 1 along -u; with a readout
    on u the network solves the task by holding the cue on the line."""
    u = np.random.default_rng(seed).standard_normal(N)
    u /= np.linalg.norm(u)
    W_in = np.stack([u, -u], axis=1)
    W_out = readout_gain * np.stack([u, -u])
    return rnnzoo.Network.from_weights(W_rec=np.outer(u, u), W_in=W_in, W_out=W_out, alpha=0.5, delay_ms=DELAY_MS)


def random_network(gain: float, seed: int = 2) -> rnnzoo.Network:
    rng = np.random.default_rng(seed)
    return rnnzoo.Network.from_weights(W_rec=gain * rng.standard_normal((N, N)) / np.sqrt(N),
                                       W_in=rng.standard_normal((N, 2)), W_out=rng.standard_normal((2, N)),
                                       alpha=0.5, delay_ms=DELAY_MS)


def numpy_period(net: rnnzoo.Network, steps: int = 4000) -> float:
    """The cycle's period measured independently: a long float64 numpy run of the same map, mean spacing of the
    interpolated upward zero crossings of its first principal component."""
    w = net.weights
    W, b, a = w.W_rec[0].double().numpy(), (w.b_rec[0] + w.b_in[0]).double().numpy(), float(net.info["alpha"])
    x = np.tanh(0.1 * np.random.default_rng(1).standard_normal(N))
    xs = []
    for _ in range(steps):
        x = (1 - a) * x + a * np.tanh(W @ x + b)
        xs.append(x)
    X = np.array(xs[steps // 2 :])
    X -= X.mean(0)
    s = X @ np.linalg.svd(X, full_matrices=False)[2][0]
    up = np.flatnonzero((s[:-1] < 0) & (s[1:] >= 0))
    return float(np.diff(up + s[up] / (s[up] - s[up + 1])).mean())


@pytest.mark.parametrize("period, gain, alpha, embed", [(4, 1.5, 1.0, False), (20, 1.5, 0.5, False),
                                                        (30, 2.0, 1.0, True), (12.5, 1.5, 0.5, False)])
def test_rotation_is_a_cycle_of_its_period(period, gain, alpha, embed):
    net = rotation(period, gain, alpha, embed)
    row = classify(net, progress=False).iloc[0]
    assert row["dynamics_label"] == "cycle" and row["regime"] == "cycle"
    expected = 4.0 if period == 4 else numpy_period(net)  # period 4: exact by the map's 90-degree symmetry
    assert row["period_steps"] == pytest.approx(expected, rel=0.01)
    task = net.task()
    assert row["period_ratio"] == pytest.approx(row["period_steps"] / (task.delay_steps + task.reaction_steps))
    assert row["amplitude"] > 0.3 and row["output_amplitude"] > 0.5
    assert row["n_slow_points"] == 0 or row["slowest_speed"] < 1e-3


def test_chain_settles_on_a_fixed_point():
    net = chain()
    frame, evidence = classify(net, details=True, progress=False)
    row, ev = frame.iloc[0], evidence[0]
    assert row["dynamics_label"] == "fixed" and not row["solves_task"]
    assert np.isnan(row["period_steps"])
    assert row["n_fixed_points"] >= 1 and row["slowest_speed"] < 1e-5
    assert np.abs(ev.slow_points[0]).max() < 1e-3  # the fixed point is 0
    assert np.abs(ev.eigenvalues[0]) == pytest.approx([0.5, 0.5, 0.5], abs=1e-6)  # (1 - alpha), W nilpotent
    assert ev.speed_profile[ev.delay].min() > 1e-2  # the pulse moves during the delay: not a slow point


def test_line_attractor_is_a_manifold():
    frame = classify([line_attractor(), line_attractor(readout_gain=0.0)], progress=False)
    solving, silent = frame.iloc[0], frame.iloc[1]
    assert solving["solves_task"] and solving["dynamics_label"] == "manifold"
    assert not silent["solves_task"] and silent["dynamics_label"] == "manifold"  # a line of slow points, task or not
    for row in (solving, silent):
        assert row["final_eigenvalue"] > 0.99 and row["n_slow_points"] >= 1 and np.isnan(row["period_steps"])


def lyapunov(net: rnnzoo.Network, steps: int = 3000) -> float:
    """Largest Lyapunov exponent per step, measured independently (numpy, renormalised twin trajectory)."""
    w = net.weights
    W, b, a = w.W_rec[0].double().numpy(), (w.b_rec[0] + w.b_in[0]).double().numpy(), float(net.info["alpha"])
    F = lambda x: (1 - a) * x + a * np.tanh(W @ x + b)  # noqa: E731
    rng = np.random.default_rng(0)
    x = np.tanh(0.1 * rng.standard_normal(N))
    for _ in range(500):
        x = F(x)
    d = rng.standard_normal(N)
    y, total = x + 1e-8 * d / np.linalg.norm(d), 0.0
    for _ in range(steps):
        x, y = F(x), F(y)
        sep = np.linalg.norm(y - x)
        total += np.log(sep / 1e-8)
        y = x + (y - x) * (1e-8 / sep)
    return total / steps


def test_contracting_and_chaotic_random_networks():
    contracting, chaotic = random_network(0.5), random_network(3.0, seed=3)
    assert lyapunov(chaotic) > 0.01 and lyapunov(contracting) < 0  # the ground truth, measured independently
    frame = classify([contracting, chaotic], progress=False)
    assert list(frame["dynamics_label"]) == ["fixed", "irregular"]
    assert frame["n_fixed_points"].iloc[0] >= 1


def test_stacked_networks_get_the_same_answers_as_one_by_one():
    nets = [rotation(20, 1.5, 0.5), chain(), line_attractor()]
    single = pd.concat([classify(n, progress=False) for n in nets], ignore_index=True)
    stacked = Weights.cat([n.weights for n in nets])
    batch, _ = diagnose(stacked, nets[0].task(), 0.5, [0, 0, 0])
    assert list(batch["dynamics_label"]) == list(single["dynamics_label"]) == ["cycle", "fixed", "manifold"]
    np.testing.assert_allclose(batch["period_steps"], single["period_steps"], rtol=1e-4)
    np.testing.assert_allclose(batch["psd_ratio"], single["psd_ratio"], rtol=1e-5)


def test_bad_input_gets_clear_errors():
    W, W_in, W_out = np.zeros((N, N)), np.zeros((N, 2)), np.zeros((2, N))
    with pytest.raises(ValueError, match="W_in"):
        rnnzoo.Network.from_weights(W_rec=W, W_in=np.zeros((N + 1, 2)), W_out=W_out)
    bad = W.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        rnnzoo.Network.from_weights(W_rec=bad, W_in=W_in, W_out=W_out)
    for alpha in (0.0, 1.5):
        with pytest.raises(ValueError, match="alpha"):
            rnnzoo.Network.from_weights(W_rec=W, W_in=W_in, W_out=W_out, alpha=alpha)
    with pytest.raises(ValueError, match=r"W_in must be \[\d+, 2\] for \d+ units and the task's 2 inputs"):
        rnnzoo.Network.from_weights(W_rec=W, W_in=np.zeros((N, 3)), W_out=W_out)  # refused before classify
    with pytest.raises(TypeError, match="Network.from_weights"):
        classify(W)


def test_zoo_classification_matches_what_generation_stored(quick_zoo):
    zoo = rnnzoo.load(quick_zoo)
    frame = zoo.classify(progress=False)
    meta = zoo.metadata
    assert list(frame["id"]) == list(meta["id"])
    # The reference criteria are reproduced exactly, and generation stored this same code's diagnostics.
    np.testing.assert_array_equal(frame["psd_ratio"].to_numpy(np.float32), meta["psd_ratio"].to_numpy())
    np.testing.assert_array_equal(frame["fluctuation"].to_numpy(np.float32), meta["fluctuation"].to_numpy())
    assert list(frame["dynamics_label"]) == list(meta["dynamics_label"])
    np.testing.assert_array_equal(frame["n_slow_points"], meta["n_slow_points"])
    np.testing.assert_allclose(frame["period_steps"].to_numpy(np.float32), meta["period_steps"].to_numpy())
    not_learned = meta["mechanism"].isin(["failed", "unstable"]).to_numpy()
    assert (frame["dynamics_label"].to_numpy()[not_learned] == meta["mechanism"].to_numpy()[not_learned]).all()
    from rnnzoo.analysis.classify import DYNAMICS_LABELS

    assert set(frame["dynamics_label"][~not_learned]) <= {"cycle", "manifold", "two_fixed_points", "mixed", "irregular"}
    assert set(frame["dynamics_label"]) <= set(DYNAMICS_LABELS)  # every value documented
    # One name, one meaning: classify's mechanism / label / mechanism_share are the zoo's columns.
    assert list(frame["mechanism"]) == list(meta["mechanism"]) and list(frame["label"]) == list(meta["label"])
    np.testing.assert_array_equal(frame["mechanism_share"].to_numpy(np.float32), meta["mechanism_share"].to_numpy(np.float32))
    one = zoo[3].classify(progress=False).iloc[0]
    assert one["dynamics_label"] == frame["dynamics_label"].iloc[3] and one["psd_ratio"] == frame["psd_ratio"].iloc[3]


def test_plot_mechanism_draws_the_evidence(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    path = tmp_path / "cycle.png"
    fig = rnnzoo.plot_mechanism(rotation(20, 1.5, 0.5), path=path)
    assert path.stat().st_size > 10_000
    assert len(fig.axes) >= 6
    assert "cycle" in fig.texts[0].get_text() if fig.texts else "cycle" in fig._suptitle.get_text()


@pytest.mark.parametrize("gain, label", [(0.9, "fixed"), (0.995, "manifold"), (1.02, "cycle")])
def test_hopf_family_of_a_rotation(gain, label):
    """x -> tanh(g R x), R a rotation by 2 pi / 20: a focus below g = 1 (fast decay: fixed; |eigenvalue| 0.995: a
    slow point, manifold), a small limit cycle of period ~20 just above (supercritical Hopf)."""
    row = classify(rotation(20, gain, 1.0), progress=False).iloc[0]
    assert row["dynamics_label"] == label
    if label == "cycle":
        assert row["period_steps"] == pytest.approx(20.0, rel=0.02)
    else:
        assert np.isnan(row["period_steps"]) and row["final_eigenvalue"] == pytest.approx(gain, abs=0.005)
