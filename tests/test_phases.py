"""Phase analysis and figures, checked on networks tables whose answer is known by construction (synthetic rows,
written and read back in the real networks-table format) and end to end on the quick_zoo fixture."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

import rnnzoo
from rnnzoo import phases
from rnnzoo.figures import make_figures
from rnnzoo.labels import LABEL_VALUES, MECHANISMS
from rnnzoo.store import NETWORK_SCHEMA, networks_table, write_table

DELAYS = tuple(range(0, 401, 40))
LRS = tuple(float(x) for x in np.logspace(0, -2, 9))  # a quarter decade apart
TRUE_EXPONENT, TRUE_C200 = -2.7, 0.13  # learned iff lr < 0.13 (T / 200)^-2.7, blurred per seed
SLOW_EXPONENT, SLOW_C200 = -4.0, 0.05  # manifold iff also lr < 0.05 (T / 200)^-4
SPREAD = 0.6  # decades: each seed shifts its boundary by a fixed offset evenly spread over +-0.3


def _table(cells: list[dict], path) -> pd.DataFrame:
    """A networks table in the real format (store.networks_table + write_table), rows marked synthetic, read back."""
    n = len(cells)
    rows = {name: [None] * n for name in NETWORK_SCHEMA.names}
    defaults = {"family": "nopost", "n_units": 100, "alpha": 0.5, "tau_ms": 10.0, "dt_ms": 5.0, "cue_ms": 30.0,
                "reaction_ms": 50.0, "post_ms": 0.0, "weighted_loss": True, "cue_held": False, "steps": 1000,
                "final_loss": 0.0, "final_accuracy": 1.0, "final_reliability": 1.0, "train_accuracy": 1.0,
                "train_reliability": 1.0, "psd_ratio": 0.5, "fluctuation": 0.0, "shard": "none", "row": 0,
                "curves": "none", "job": 0, "synthetic": True}
    for i, cell in enumerate(cells):
        full = {**defaults, **cell}
        full["id"] = (f"synthetic-{full['family']}-d{full['delay_ms']:03d}-r{int(full['reaction_ms']):03d}"
                      f"-lr{full['lr']:.3e}-s{full['seed']:03d}")
        full["label"] = LABEL_VALUES.index(full["mechanism"])
        for name in NETWORK_SCHEMA.names:
            rows[name][i] = full.get(name)  # columns the schema gains later stay null
    write_table(path, networks_table(rows))
    return pd.read_parquet(path)


def _offsets(n_seeds: int) -> np.ndarray:
    return SPREAD * ((np.arange(n_seeds) + 0.5) / n_seeds - 0.5)


def _power_law_table(path, n_seeds: int = 40) -> pd.DataFrame:
    """Learned below lr_c(T) = 0.13 (T/200)^-2.7 and manifold below 0.05 (T/200)^-4, each seed's boundary shifted by
    an even offset, so half the seeds learn exactly at lr_c(T); not-learned seeds alternate failed / unstable."""
    return _table(_law_cells(LRS, n_seeds, delays=DELAYS), path)


def test_fractions_match_hand_counted_cells(tmp_path):
    mechs = ["failed"] * 2 + ["unstable"] + ["cycle"] * 3 + ["manifold"] * 4
    cells = [{"delay_ms": 80, "lr": 0.1, "seed": s, "mechanism": m} for s, m in enumerate(mechs)]
    cells += [{"delay_ms": 120, "lr": 0.1, "seed": s, "mechanism": "failed"} for s in range(10)]
    cells += [{"delay_ms": 80, "lr": 0.01, "seed": 0, "mechanism": "cycle"}]
    table = _table(cells, tmp_path / "networks.parquet")
    frac = phases.phase_fractions(table, include_synthetic=True).set_index(["delay_ms", "lr"])
    row = frac.loc[(80.0, 0.1)]
    assert row["n"] == 10
    assert [row[f"frac_{m}"] for m in ("failed", "unstable", "cycle", "manifold")] == pytest.approx([0.2, 0.1, 0.3, 0.4])
    assert row["frac_learned"] == pytest.approx(0.7) and row["frac_manifold_of_learned"] == pytest.approx(4 / 7)
    assert frac.loc[(120.0, 0.1), "frac_failed"] == 1.0 and math.isnan(frac.loc[(120.0, 0.1), "frac_manifold_of_learned"])
    assert frac.loc[(80.0, 0.01), "n"] == 1 and (120.0, 0.01) not in frac.index  # empty cells are not rows


def test_critical_crossing_interpolates_on_the_log_grid():
    lrs = [0.01, 0.1, 1.0, 10.0, 100.0]
    value, status = phases.critical_crossing([1, 1, 0.75, 0.25, 0], lrs)
    assert status == "interior" and value == pytest.approx(math.sqrt(10))  # halfway between 1 and 10 in log
    value, status = phases.critical_crossing([1, 0.2, 0.8, 0.0, np.nan], lrs, estimator="raw")  # empty cell skipped
    assert status == "interior" and value == pytest.approx(10 ** (0 + 0.3 / 0.8))  # largest rate where >= half learn
    assert phases.critical_crossing([1, 1, 1, 0.5, 0.5], lrs) == (pytest.approx(100.0), "above")
    assert phases.critical_crossing([0.4, 0.1, 0, 0, 0], lrs) == (pytest.approx(0.01), "below")
    # the monotone estimator pools the rise at lr 1 with lr 0.1 (mean 0.5, still >= half): the crossing is at 1
    assert phases.critical_crossing([1, 0.2, 0.8, 0.0, np.nan], lrs) == (pytest.approx(1.0), "interior")
    with pytest.raises(ValueError, match="unknown estimator 'median'.*monotone"):
        phases.critical_crossing([1, 0], [0.1, 1], estimator="median")


def test_monotone_fraction_is_the_weighted_isotonic_fit():
    f = [0.4, 0.4, 0.2, 0.0, 0.8, 0.2, 0.4]  # the 280 ms row of a 5-seed zoo, by increasing lr
    assert phases.monotone_fraction(f) == pytest.approx([0.4, 0.4, 1 / 3, 1 / 3, 1 / 3, 0.3, 0.3])
    assert phases.monotone_fraction([0.2, 0.8], weights=[3, 1]) == pytest.approx([0.35, 0.35])  # (0.6 + 0.8) / 4
    out = phases.monotone_fraction([1.0, np.nan, 0.0, 0.5])
    assert math.isnan(out[1]) and out[[0, 2, 3]] == pytest.approx([1.0, 0.25, 0.25])
    already = [1.0, 0.9, 0.5, 0.1, 0.0]
    assert phases.monotone_fraction(already) == pytest.approx(already)


def test_monotone_estimator_ignores_a_lucky_high_rate_cell(tmp_path):
    """8 seeds on the known law, plus at each interior delay one cell a decade above the boundary where 5 of 8
    seeds learn by luck: the raw crossing jumps to that cell, the monotone one stays on the law."""
    n_seeds = 8
    cells = []
    for T in DELAYS:
        lucky = math.log10(TRUE_C200 * (T / 200) ** TRUE_EXPONENT) + 1.0 if T > 0 else math.inf
        for lr in LRS:
            for s, eps in enumerate(_offsets(n_seeds)):
                x = math.log10(lr)
                learns = T == 0 or x < math.log10(TRUE_C200 * (T / 200) ** TRUE_EXPONENT) + eps
                learns = learns or (abs(x - lucky) < 0.125 and s < 5)
                cells.append({"delay_ms": T, "lr": lr, "seed": s, "mechanism": "cycle" if learns else "failed"})
    table = _table(cells, tmp_path / "networks.parquet")
    raw = phases.critical_rates(table, include_synthetic=True, n_boot=50, estimator="raw").set_index("delay_ms")
    mono = phases.critical_rates(table, include_synthetic=True, n_boot=50).set_index("delay_ms")
    law = lambda T: np.log10(TRUE_C200 * (np.asarray(T, float) / 200) ** TRUE_EXPONENT)  # noqa: E731
    interior = mono.index[mono["status"] == "interior"]
    assert len(interior) >= 6
    assert np.abs(np.log10(mono.loc[interior, "critical_lr"]) - law(interior)).max() < 0.13  # half a grid step
    lucky_in_grid = [T for T in interior if law(T) + 1.0 <= 0.0]  # the lucky cell lies at lr <= 1
    assert len(lucky_in_grid) >= 4
    assert (np.log10(raw.loc[lucky_in_grid, "critical_lr"]) - law(lucky_in_grid)).min() > 0.7  # raw: the lucky cell
    fit = phases.critical_scaling(table, include_synthetic=True, n_boot=100)["fit"]
    assert fit["exponent"] == pytest.approx(TRUE_EXPONENT, abs=0.3) and fit["hi"] < 0


def test_power_law_fit_recovers_a_known_law():
    T = np.array([50.0, 100, 200, 400])
    fit = phases.fit_power_law(T, 3.0 * T**-2.5)
    assert fit.exponent == pytest.approx(-2.5) and fit.prefactor == pytest.approx(3.0) and fit.r2 == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 2 points"):
        phases.fit_power_law([100.0], [0.1])


def test_critical_rate_scaling_recovers_the_constructed_exponent(tmp_path):
    table = _power_law_table(tmp_path / "networks.parquet")
    crit = phases.critical_rates(table, include_synthetic=True, n_boot=200).set_index("delay_ms")
    interior = crit[crit["status"] == "interior"]
    truth = TRUE_C200 * (interior.index.to_numpy() / 200) ** TRUE_EXPONENT
    assert np.allclose(np.log10(interior["critical_lr"]), np.log10(truth), atol=0.02)  # 40 seeds: 1/80 quantisation
    assert crit.loc[0.0, "status"] == "above" and crit.loc[40.0, "status"] == "above"  # lr_c(40) = 10 > 1
    assert (interior["lo"] <= interior["critical_lr"]).all() and (interior["critical_lr"] <= interior["hi"]).all()
    scaling = phases.critical_scaling(table, include_synthetic=True, n_boot=200)
    fit = scaling["fit"]
    assert fit["exponent"] == pytest.approx(TRUE_EXPONENT, abs=0.03)
    assert fit["lo"] <= TRUE_EXPONENT <= fit["hi"] and fit["r2"] > 0.99
    assert min(scaling["fit_delays_ms"]) == 120 and max(scaling["fit_delays_ms"]) == 400


def test_reference_boundary_fits_recover_both_constructed_exponents(tmp_path):
    """The reference's estimators (curve_fit from its p0) and rnnzoo's grid searches, on a table built from known
    power laws."""
    table = _power_law_table(tmp_path / "networks.parquet")
    ref = phases.reference_boundaries(table, include_synthetic=True)
    assert ref["no_learning"]["fit"]["exponent"] == pytest.approx(TRUE_EXPONENT, abs=0.3)
    assert ref["no_learning"]["fit"]["n_points"] >= 4 and ref["no_learning"]["fit"]["stderr"] > 0
    # curve_fit from the reference's p0 = [0.1, 0.1] (a rising logistic) does not converge on most of this table's
    # step-like manifold fractions: those rates are reported as not converged, never silently kept
    assert all(r["x0_ms"] is None for r in ref["slow_point"]["per_lr"] if not r["converged"])
    grid = phases.grid_boundaries(table, include_synthetic=True)
    assert grid["no_learning"]["fit"]["exponent"] == pytest.approx(TRUE_EXPONENT, abs=0.3)
    assert grid["slow_point"]["fit"]["exponent"] == pytest.approx(SLOW_EXPONENT, abs=0.4)


def test_reference_slow_point_fit_on_smooth_logistic_fractions(tmp_path):
    """Manifold fractions that follow the reference's own model, 1 / (1 + exp(-k (T - x0(lr)))) with k < 0 and
    x0(lr) = 200 (lr / 0.05)^(-1/4), on the paper's 21 delays: the reference's slow-point fit returns -4."""
    cells = []
    for lr in np.logspace(-0.5, -2, 8):
        x0 = 200 * (lr / 0.05) ** (-1 / 4)
        for T in range(0, 401, 20):
            n_manifold = int(round(60 / (1 + np.exp(0.04 * (T - x0)))))
            cells += [{"delay_ms": T, "lr": float(lr), "seed": s, "mechanism": "manifold" if s < n_manifold else "cycle"}
                      for s in range(60)]
    ref = phases.reference_boundaries(_table(cells, tmp_path / "n.parquet"), include_synthetic=True)
    fit = ref["slow_point"]["fit"]
    assert fit["exponent"] == pytest.approx(-4.0, abs=0.15) and fit["r2"] > 0.99 and fit["n_points"] >= 6


def test_reference_control_fit_recovers_a_constructed_exponent(tmp_path):
    """Control networks whose not-learned fraction at response length T is a logistic in log lr around
    lr_c(T) = 0.5 (T / 20)^-0.38: the reference's fit gives back -0.38."""
    rng_lrs = np.logspace(0, -3, 20)
    cells = []
    for T in range(20, 401, 20):
        log_c = np.log(0.5 * (T / 20) ** -0.38)
        for lr in rng_lrs:
            p_fail = 1 / (1 + np.exp(-4 * (np.log(lr) - log_c)))
            n_fail = int(round(40 * p_fail))
            cells += [{"delay_ms": 0, "reaction_ms": float(T), "lr": lr, "seed": s, "family": "control",
                       "mechanism": "failed" if s < n_fail else "learned"} for s in range(40)]
    table = _table(cells, tmp_path / "control.parquet")
    res = phases.reference_control_fit(table, include_synthetic=True)
    assert res["fit"]["exponent"] == pytest.approx(-0.38, abs=0.03) and res["fit"]["r2"] > 0.95
    assert len(res["per_length"]) == 20 and sum(r["converged"] for r in res["per_length"]) >= 15


def test_manifold_share_fit_recovers_a(tmp_path):
    a_true, n_seeds = 150.0, 60
    cells = []
    for T in DELAYS:
        n_manifold = round(n_seeds / (1 + T / a_true))
        for lr in (0.1, 0.03):
            cells += [{"delay_ms": T, "lr": lr, "seed": s, "mechanism": "manifold" if s < n_manifold else "cycle"}
                      for s in range(n_seeds)]
    fits = phases.manifold_fraction_fits(_table(cells, tmp_path / "n.parquet"), include_synthetic=True, n_boot=200)
    assert len(fits) == 2
    assert np.allclose(fits["a_ms"], a_true, rtol=0.03) and (fits["rmse"] < 0.01).all()
    assert ((fits["lo"] <= a_true) & (a_true <= fits["hi"])).all()


def test_bad_tables_are_refused_with_the_fix(tmp_path):
    cells = [{"delay_ms": 40, "lr": 0.1, "seed": 0, "mechanism": "cycle", "family": f} for f in ("nopost", "post")]
    table = _table(cells, tmp_path / "n.parquet")
    with pytest.raises(ValueError, match="include_synthetic=True"):
        phases.phase_fractions(table)
    with pytest.raises(ValueError, match=r"several families \['nopost', 'post'\]; pass family="):
        phases.phase_fractions(table, include_synthetic=True)
    assert len(phases.phase_fractions(table, family="post", include_synthetic=True)) == 1
    doubled = pd.concat([table, table])
    with pytest.raises(ValueError, match="share one \\(delay, lr, seed\\) cell"):
        phases.grid(doubled, family="post", include_synthetic=True)


def test_make_figures_on_the_constructed_table(tmp_path):
    table = _power_law_table(tmp_path / "networks.parquet", n_seeds=20)
    out = make_figures(table, tmp_path / "fig", n_boot=100, include_synthetic=True)
    numbers = json.loads((tmp_path / "fig" / "phases.json").read_text())
    assert numbers["families"]["nopost"]["critical"]["fit"]["exponent"] == pytest.approx(TRUE_EXPONENT, abs=0.05)
    for path in out["figures"]["nopost"].values():
        with open(path, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_make_figures_end_to_end_on_a_generated_zoo(quick_zoo, tmp_path):
    import matplotlib.image

    zoo = rnnzoo.load(source=quick_zoo)
    out = make_figures(zoo, tmp_path / "figures", n_boot=50)
    assert set(out["figures"]) == {"nopost"}
    for path in out["figures"]["nopost"].values():
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 500
    numbers = json.loads(open(out["json"]).read())
    res = numbers["families"]["nopost"]
    assert res["n_networks"] == len(zoo) == sum(r["n"] for r in res["fractions"])
    assert res["delays_ms"] == [20.0, 40.0] and len(res["lrs"]) == 2 and res["n_seeds"] == 3
    assert sum(res["mechanism_totals"].values()) == len(zoo)
    for row in res["fractions"]:
        assert sum(row[f"frac_{m}"] for m in MECHANISMS) == pytest.approx(1.0)
    assert numbers["figures"]["nopost"]["phase_diagram"] == "phase-diagram-nopost.png"
    assert numbers["families"]["nopost"]["paper_exponents"]["nopost/no_learning"]["exponent"] == -2.72


def test_card_states_the_fitted_exponents_beside_the_paper(tmp_path):
    from generation.card import phase_numbers_table

    table = _power_law_table(tmp_path / "networks.parquet", n_seeds=20)
    text = phase_numbers_table({"nopost": phases.analyse(table, n_boot=100, include_synthetic=True)})
    row = next(line for line in text.splitlines() if "critical lr (monotone estimator" in line)
    value = float(re.search(r"\| T\^(-?\d+\.\d+) \(95% bootstrap", row).group(1))
    assert value == pytest.approx(TRUE_EXPONENT, abs=0.05)
    assert row.endswith("| T^(-2.72 ± 0.07) |")  # the paper's no-learning exponent beside it
    assert "| nopost | no-learning boundary, the reference's estimator (curve_fit; ± its stderr) | T^(-2." in text
    assert "| nopost | slow-point boundary, rnnzoo's grid-search estimator | T^" in text
    assert "T^(-4.05 ± 0.1) |" in text


# ---- the reference's estimators per protocol (Figures/Figure4 nopost / post, FigureS6) -----------------------------
def _onset_cells(fractions_by_lr: dict[float, list[int]], n: int, delays, **extra) -> list[dict]:
    """Networks whose not-learned count at (delay, lr) is given (failed, with every other one unstable)."""
    cells = []
    for lr, counts in fractions_by_lr.items():
        for T, k in zip(delays, counts):
            cells += [{"delay_ms": T, "lr": lr, "seed": s, **extra,
                       "mechanism": ("unstable" if s % 2 else "failed") if s < k else "cycle"} for s in range(n)]
    return cells


def test_reference_fractions_come_from_counts(tmp_path):
    """Exactly 10 of 100 failed or unstable is a fraction of 0.1: the rate is fitted (1 - learned would give
    0.0999... and skip it). 9 of 100 is skipped. The post script's threshold is 0.2: 20 of 100 fitted, 19 not."""
    assert 1 - 90 / 100 < 0.1  # why counting matters
    delays = list(range(0, 401, 40))
    ramp = [0, 0, 0, 0, 0, 0, 2, 4, 6, 8, 10]
    cells = _onset_cells({0.1: ramp, 0.05: [min(k, 9) for k in ramp]}, 100, delays)
    ref = phases.reference_boundaries(_table(cells, tmp_path / "a.parquet"), include_synthetic=True)
    assert ref["protocol"] == "nopost"
    by_lr = {r["lr"]: r for r in ref["no_learning"]["per_lr"]}
    assert by_lr[0.1]["skipped"] is False and by_lr[0.05]["skipped"] is True
    post_ramp = [0, 0, 0, 0, 0, 0, 4, 8, 12, 16, 20]
    cells = _onset_cells({0.1: post_ramp, 0.05: [min(k, 19) for k in post_ramp]}, 100, delays, post_ms=30.0,
                         family="post")
    ref = phases.reference_boundaries(_table(cells, tmp_path / "b.parquet"), include_synthetic=True)
    assert ref["protocol"] == "post"
    by_lr = {r["lr"]: r for r in ref["no_learning"]["per_lr"]}
    assert by_lr[0.1]["skipped"] is False and by_lr[0.05]["skipped"] is True


def _law_cells(lrs, n_seeds, exponent=TRUE_EXPONENT, delays=tuple(range(0, 401, 20)), **extra) -> list[dict]:
    """Seeds evenly spread around a known no-learning law and a slow-point law T^-4."""
    cells = []
    for T in delays:
        for lr in lrs:
            for s, eps in enumerate(_offsets(n_seeds)):
                x = math.log10(lr)
                if T == 0 or x < math.log10(TRUE_C200 * (T / 200) ** exponent) + eps:
                    slow = T == 0 or x < math.log10(SLOW_C200 * (T / 200) ** SLOW_EXPONENT) + eps
                    mech = "manifold" if slow else "cycle"
                else:
                    mech = "unstable" if s % 4 == 0 else "failed"
                cells.append({"delay_ms": T, "lr": float(lr), "seed": s, "mechanism": mech, **extra})
    return cells


def test_post_script_settings(tmp_path, monkeypatch):
    """A post family (post_ms > 0) gets plot_post.py's settings: p0 [0.5, 0.1] for the onset fit ([0.1, 0.1] for
    the slow point), the second-largest rate dropped from both log-log fits, the slow-point fit over every rate;
    the no-post family gets [0.1, 0.1] and the 25 largest of its 30 rates."""
    seen = []
    real = phases._curve_fit

    def spy(model, x, y, p0, **kw):
        seen.append((model.__name__, tuple(p0)))
        return real(model, x, y, p0, **kw)

    monkeypatch.setattr(phases, "_curve_fit", spy)
    post_lrs = np.logspace(-1, -3, 15)
    table = _table(_law_cells(post_lrs, 20, family="post", post_ms=30.0), tmp_path / "post.parquet")
    ref = phases.reference_boundaries(table, include_synthetic=True)
    assert ref["protocol"] == "post"
    assert {p for m, p in seen if m == "_exp_saturation"} == {(0.5, 0.1)}
    assert {p for m, p in seen if m == "_rising_logistic"} == {(0.1, 0.1)}
    for name in ("no_learning", "slow_point"):
        per_lr = ref[name]["per_lr"]
        assert [r["lr"] for r in per_lr] == pytest.approx(sorted(post_lrs, reverse=True))  # every rate, largest first
        dropped = [r for r in per_lr if r["dropped"]]
        assert len(dropped) == 1 and dropped[0]["lr"] == pytest.approx(post_lrs[1])  # the second largest
        used = [r for r in per_lr if r["converged"] and r["x0_ms"] > 0 and not r["dropped"]]
        if ref[name]["fit"] is not None:
            assert ref[name]["fit"]["n_points"] == len(used)
            assert ref[name]["fit"] == phases.reference_line([r["x0_ms"] for r in used], [r["lr"] for r in used])
    assert ref["no_learning"]["settings"]["min_peak"] == 0.2
    # the same networks as a no-post family: its own settings
    seen.clear()
    nopost_lrs = np.sort(np.append(np.logspace(-0.5, -2, 20)[:15], np.logspace(-1, -3, 15)))[::-1]
    table = _table(_law_cells(nopost_lrs, 8), tmp_path / "nopost.parquet")
    ref = phases.reference_boundaries(table, include_synthetic=True)
    assert ref["protocol"] == "nopost" and {p for m, p in seen if m != "<lambda>"} == {(0.1, 0.1)}
    assert len(ref["slow_point"]["per_lr"]) == 25 and len(ref["no_learning"]["per_lr"]) == 30
    assert not any(r["dropped"] for r in ref["no_learning"]["per_lr"])
    assert ref["slow_point"]["per_lr"][-1]["lr"] == pytest.approx(nopost_lrs[24])


def test_reference_counts_on_a_full_grid_match_the_script_arithmetic():
    """On a full grid, reference_counts is the script: fractions k / n, x0 from curve_fit per rate, x0 > 0 kept."""
    from scipy.optimize import curve_fit

    delays = np.linspace(0, 400, 21)
    lrs = np.array([0.01, 0.03, 0.1])
    x0_true = {0.01: 300.0, 0.03: 200.0, 0.1: 120.0}
    n = np.full((21, 3), 50.0)
    k = np.stack([np.round(50 * np.where(delays < x0_true[lr], 0, 1 - np.exp(-0.02 * (delays - x0_true[lr]))))
                  for lr in lrs], axis=1)
    out = phases.reference_counts(delays, lrs, k, n, protocol="nopost")
    for r in out["per_lr"]:
        col = list(lrs).index(r["lr"])
        popt, _ = curve_fit(lambda T, a, b: np.where(T < a, 0, 1 - np.exp(-b * (T - a))), delays, k[:, col] / 50,
                            p0=[0.1, 0.1])
        assert r["x0_ms"] == pytest.approx(popt[0], rel=1e-9)
    n[3, 1] = 0  # a missing cell: left out of that rate's fit, the others unchanged
    k[3, 1] = 0
    missing = phases.reference_counts(delays, lrs, k, n, protocol="nopost")
    assert [r["x0_ms"] for r in missing["per_lr"]][0] == pytest.approx(out["per_lr"][0]["x0_ms"])


def test_critical_rate_figure_draws_the_family_s_own_paper_slope(tmp_path):
    from rnnzoo.figures import plot_critical_rate

    post_lrs = np.logspace(-1, -3, 15)
    table = _table(_law_cells(post_lrs, 12, family="post", post_ms=30.0), tmp_path / "post.parquet")
    res = json.loads(json.dumps(phases.analyse(table, n_boot=20, include_synthetic=True)))  # JSON-able
    assert res["protocol"] == "post" and res["likelihood_fits"]["no_learning"]["exponent"] is not None
    assert res["summary"]["likelihood_no_learning_exponent"] == pytest.approx(TRUE_EXPONENT, abs=0.2)
    fig = plot_critical_rate(res)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert any("paper, post no-learning boundary: T^(-2.65" in s for s in labels)
    assert not any("-2.72" in s or "-4.05" in s for s in labels)  # never the no-post family's slopes
    assert any(s.startswith("likelihood: no-learning boundary T^(") for s in labels)
    assert any(s.startswith("reference (post script): no-learning onset") for s in labels)
