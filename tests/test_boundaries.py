"""The likelihood boundary estimator (rnnzoo.boundaries) on synthetic tables drawn from a known power law: it
recovers the exponent, its stated interval covers the truth at the stated rate, and it runs on irregular tables
(different seeds per cell, missing cells) and on the no-memory control."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from rnnzoo import boundaries, phases

TRUTH, LR_AT_200, WIDTH = -2.7, 0.13, 0.3


def _binomial_cells(rng, exponent=TRUTH, missing=0.2, seeds=(20, 100), delays=range(20, 401, 20)):
    """Counts drawn straight from the model (one binomial per cell), on the paper's no-post rates."""
    T, lr = (a.ravel() for a in np.meshgrid(np.asarray(delays, float), boundaries.NOPOST_LRS, indexing="ij"))
    keep = rng.random(T.size) >= missing
    T, lr = T[keep], lr[keep]
    n = rng.integers(seeds[0], seeds[1] + 1, size=T.size).astype(float)
    log_c = math.log(LR_AT_200) + exponent * (np.log(T) - math.log(200))
    p = 1 / (1 + np.exp(-(np.log(lr) - log_c) / WIDTH))
    return T, lr, rng.binomial(n.astype(int), p).astype(float), n


def test_profile_interval_covers_the_truth_at_its_stated_rate():
    """200 seeded synthetic tables (20-100 seeds per cell, a fifth of the cells missing): the 95% profile interval
    must cover T^-2.7 in 95% of them. The coverage estimate itself has a binomial standard error of
    sqrt(0.95 * 0.05 / 200) = 0.015; the test allows 3 of those (0.905 .. 0.995), so a correct interval fails it
    about 3 times in 1,000 seeds, while one 30% too narrow (coverage ~0.87) or too wide (~0.99+) does not pass."""
    rng = np.random.default_rng(2025)
    reps, level = 200, 0.95
    est, covered = [], []
    for _ in range(reps):
        fit = boundaries.fit_counts(*_binomial_cells(rng), level=level, per_delay=False)
        est.append(fit.exponent)
        covered.append(fit.lo <= TRUTH <= fit.hi)
    tol = 3 * math.sqrt(level * (1 - level) / reps)
    assert abs(np.mean(covered) - level) <= tol
    est = np.array(est)
    assert abs(est.mean() - TRUTH) < 4 * est.std(ddof=1) / math.sqrt(reps)  # no bias beyond its sampling error
    assert 0.01 < est.std(ddof=1) < 0.06  # and the precision 20-100 seeds per cell give (0.026 in the benchmark)


def test_likelihood_beats_the_reference_onset_estimator_on_the_same_tables():
    """Full grids (the reference needs one) from the known law: the reference's onset estimator is biased (its
    curve of the not-learned fraction is not the law's), the likelihood fit is not, on the very same counts."""
    rng = np.random.default_rng(7)
    ml, ref = [], []
    for _ in range(12):
        net = boundaries.synthetic_networks(rng, exponent=TRUTH, lr_at_200=LR_AT_200, width=WIDTH)
        delays, lrs, k, n = boundaries.cell_counts(net)
        D, L = np.meshgrid(delays, lrs, indexing="ij")
        ml.append(boundaries.fit_counts(D.ravel(), L.ravel(), k.ravel(), n.ravel(), interval="wald").exponent)
        ref.append(phases.reference_counts(delays, lrs, k, n, protocol="nopost")["fit"]["exponent"])
    assert abs(np.mean(ml) - TRUTH) < 0.02
    assert np.mean(ref) < TRUTH - 0.15  # the benchmark: -2.97 (bias -0.27) at this width
    assert np.sqrt(np.mean((np.array(ml) - TRUTH) ** 2)) < 0.3 * np.sqrt(np.mean((np.array(ref) - TRUTH) ** 2))


def test_irregular_networks_table_with_every_interval():
    rng = np.random.default_rng(3)
    net = boundaries.synthetic_networks(rng, missing=0.3, seeds=(5, 60))
    assert net.groupby(["delay_ms", "lr"]).size().nunique() > 20  # irregular: seeds per cell differ
    profile = boundaries.boundary_likelihood(net)
    wald = boundaries.boundary_likelihood(net, interval="wald")
    boot = boundaries.boundary_likelihood(net, interval="bootstrap", n_boot=60, seed=1)
    for fit in (profile, wald, boot):
        assert fit.lo < TRUTH < fit.hi and fit.lo < fit.exponent < fit.hi
        assert fit.n_networks == len(net[net["delay_ms"] > 0])
    assert profile.exponent == wald.exponent == boot.exponent  # one estimate, three intervals
    assert boot.stderr == pytest.approx(wald.stderr, rel=0.5) and boot.n_boot == 60
    assert profile.width == pytest.approx(WIDTH, rel=0.15)
    crit = [r for r in profile.per_delay if r["status"] == "interior"]
    assert len(crit) >= 8
    truth = LR_AT_200 * (np.array([r["delay_ms"] for r in crit]) / 200) ** TRUTH
    assert np.abs(np.log([r["critical_lr"] for r in crit]) - np.log(truth)).max() < 0.3
    assert profile.critical_lr(200.0) == pytest.approx(LR_AT_200, rel=0.1)
    out = profile.to_dict()
    assert out["exponent"] == profile.exponent and isinstance(out["per_delay"], list)


def test_exponent_estimate_is_fast_for_the_planner():
    rng = np.random.default_rng(4)
    net = boundaries.synthetic_networks(rng, delays=(40, 80, 120, 200, 280, 400), seeds=(8, 16), missing=0.2)
    net = net.iloc[: 2000]
    boundaries.exponent_estimate(net)  # imports scipy once
    start = time.perf_counter()
    exponent, stderr = boundaries.exponent_estimate(net)
    assert time.perf_counter() - start < 1.0
    assert math.isfinite(exponent) and 0 < stderr < 1


def test_slow_point_boundary_with_its_ceiling():
    """Manifolds never take more than 70% of a cell (limit cycles share even the easiest ones): the slow-point
    fit frees that ceiling and recovers both it and T^-4."""
    rng = np.random.default_rng(5)
    net = boundaries.synthetic_networks(rng, exponent=-4.0, lr_at_200=0.05, boundary="slow_point", ceiling=0.7)
    fit = boundaries.boundary_likelihood(net, boundary="slow_point")
    assert fit.lo < -4.0 < fit.hi and fit.ceiling == pytest.approx(0.7, abs=0.03)
    fixed = boundaries.boundary_likelihood(net, boundary="slow_point", ceiling=False)
    assert fixed.ceiling is None and fixed.deviance > fit.deviance + 100  # a ceiling of 1 does not fit these


def test_control_family_uses_the_response_length():
    rng = np.random.default_rng(6)
    rows = []
    for T in range(20, 401, 20):
        log_c = math.log(0.5 * (T / 20) ** -0.38)
        for lr in np.logspace(0, -3, 20):
            n = int(rng.integers(10, 30))
            fails = rng.random(n) < 1 / (1 + np.exp(-(math.log(lr) - log_c) / 0.25))
            rows += [{"family": "control", "delay_ms": 0.0, "reaction_ms": float(T), "lr": lr, "seed": s,
                      "mechanism": "failed" if f else "learned", "target_held": True, "post_ms": 0.0}
                     for s, f in enumerate(fails)]
    import pandas as pd

    table = pd.DataFrame(rows)
    fit = boundaries.boundary_likelihood(table)
    assert fit.length == "reaction_ms" and fit.lo < -0.38 < fit.hi and fit.stderr < 0.05
    assert fit.n_delays == 20
    with pytest.raises(ValueError, match="only a no-learning boundary"):
        boundaries.boundary_likelihood(table, boundary="slow_point")
    ref = phases.reference_boundaries(table)
    assert ref["protocol"] == "control" and ref["slow_point"] is None
    assert ref["no_learning"]["fit"]["exponent"] == pytest.approx(-0.38, abs=0.1)


def test_errors_name_the_problem_and_the_fix():
    rng = np.random.default_rng(8)
    net = boundaries.synthetic_networks(rng, delays=(0, 200), seeds=(5, 5))
    with pytest.raises(ValueError, match="at least 2 delays > 0.*got 1 delays"):
        boundaries.boundary_likelihood(net)
    with pytest.raises(ValueError, match="unknown boundary 'edge'"):
        boundaries.boundary_likelihood(net, boundary="edge")
    with pytest.raises(ValueError, match="unknown interval 'exact'"):
        boundaries.boundary_likelihood(net, interval="exact")
    easy = boundaries.synthetic_networks(rng, delays=(20, 40), lrs=(1e-3, 2e-3), seeds=(5, 5))
    with pytest.raises(ValueError, match="no network is not-learned.*widen"):
        boundaries.boundary_likelihood(easy)
    with pytest.raises(ValueError, match="bootstrap over seeds"):
        boundaries.fit_counts([20, 40], [0.1, 0.1], [1, 2], [5, 5], interval="bootstrap")
