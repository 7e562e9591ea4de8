"""Dynamical phases over a zoo (arXiv 2502.17433): mechanism fractions per (delay, learning rate), the critical
learning rate per delay and its power-law scaling, the manifold share against the delay, and the reference's
boundary fits. Everything reads only the networks table, so it runs on a zoo's metadata without loading weights.

Definitions (docs/science.md):
- learned = mechanism "cycle" or "manifold"; "unstable" (learned, then lost) and "failed" count as not learned.
- critical learning rate at a delay = the largest rate at which at least half of the seeds learn, interpolated
  linearly in log(lr) to where the learned fraction crosses one half between that rate and the next larger one;
  bootstrap intervals resample the seeds (a seed is one initial network, shared by every cell of a sweep).
  Two estimators: "monotone" (the default) reads the crossing off the learned fraction made non-increasing in the
  rate (a weighted isotonic fit, pool-adjacent-violators), the paper's model of a boundary above which nothing is
  learned; "raw" reads it off the cell fractions as they are, so one high-rate cell where a few seeds happen to
  learn (common with 5-8 seeds) sets the critical rate on its own.
- manifold share = manifold / learned networks of a cell, fitted against the delay T to 1 / (1 + T / a).
- reference fits: per learning rate, the not-learned fraction against T fitted to 0 below x0 and
  1 - exp(-k (T - x0)) above (no-learning boundary), and the manifold fraction fitted to a logistic with midpoint
  x0 (slow-point boundary); log lr against log x0 is then fitted with a line. Each family gets the settings of the
  script that analyses its protocol (REFERENCE_SETTINGS, family_protocol: no post, post, control), fractions
  from counts, (failed + unstable) / n, as the scripts count them.
- likelihood fits (rnnzoo.boundaries): the same boundaries by maximum likelihood on the seed counts, with
  intervals; the numbers to stand behind, the reference's reported beside them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import numpy as np
import pandas as pd

from rnnzoo.boundaries import likelihood_fits
from rnnzoo.family_table import _clean, family_protocol, networks_frame
from rnnzoo.labels import CONTROL_LEARNED, MECHANISMS

LEARNED = ("cycle", "manifold")
THRESHOLD = 0.5
PAPER_EXPONENTS = {  # read from the paper's figures (docs/science.md): exponent, +-, R^2
    "nopost/no_learning": (-2.72, 0.07, 0.98),
    "nopost/slow_point": (-4.05, 0.10, 0.99),
    "post/no_learning": (-2.65, 0.23, 0.93),
    "control/no_learning": (-0.38, 0.02, 0.97),
}
THEORY_EXPONENTS = {"cycle": -3.0, "slow_point": -5.0}  # toy models: critical lr ~ T_resp T^-3 and T_resp T^-5
@dataclass
class Grid:
    """The labels of one family on its delay x lr x seed grid: codes[d, l, s] = index in MECHANISMS, -1 if absent."""

    delays: np.ndarray  # ms, ascending
    lrs: np.ndarray  # ascending
    seeds: np.ndarray
    codes: np.ndarray

    def counts(self, seed_weights: np.ndarray | None = None) -> np.ndarray:
        """counts[..., d, l, k] of each mechanism k, with seeds weighted (a bootstrap draw) if weights [..., S]."""
        onehot = (self.codes[..., None] == np.arange(len(MECHANISMS))).astype(np.float64)  # [D, L, S, K]
        if seed_weights is None:
            return onehot.sum(axis=2)
        return np.einsum("...s,dlsk->...dlk", seed_weights, onehot)


def grid(zoo: Any, family: str | None = None, include_synthetic: bool = False) -> Grid:
    """The labels of one family laid out on its (delay, lr, seed) grid."""
    table = networks_frame(zoo, family, include_synthetic)
    if (table["mechanism"] == CONTROL_LEARNED).any():
        raise ValueError(f"family {table['family'].iloc[0]!r} is labelled learned / failed only (the no-memory "
                         "control has no mechanisms to lay out); analyse it with reference_control_fit")
    lr_key = np.round(np.log10(table["lr"].to_numpy(dtype=np.float64)), 4)  # rates equal to 1e-4 decades
    if not np.all(np.isfinite(lr_key)):
        raise ValueError("learning rates must be positive and finite for a phase analysis")
    keys, first, lr_index = np.unique(lr_key, return_index=True, return_inverse=True)
    lrs = table["lr"].to_numpy(dtype=np.float64)[first]
    delays, d_index = np.unique(table["delay_ms"].to_numpy(), return_inverse=True)
    seeds, s_index = np.unique(table["seed"].to_numpy(), return_inverse=True)
    codes = np.full((len(delays), len(lrs), len(seeds)), -1, dtype=np.int8)
    flat = np.ravel_multi_index((d_index, lr_index, s_index), codes.shape)
    if len(np.unique(flat)) != len(flat):
        raise ValueError("several networks share one (delay, lr, seed) cell (several reaction windows?); "
                         "filter the zoo to one reaction window first, e.g. zoo.filter(reaction_ms=50)")
    codes.ravel()[flat] = [MECHANISMS.index(m) for m in table["mechanism"].astype(str)]
    return Grid(delays.astype(np.float64), lrs, seeds, codes)


def _fractions(counts: np.ndarray) -> dict[str, np.ndarray]:
    total = counts.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = {m: counts[..., k] / total for k, m in enumerate(MECHANISMS)}
        learned = counts[..., MECHANISMS.index("cycle")] + counts[..., MECHANISMS.index("manifold")]
        frac["learned"] = learned / total
        frac["manifold_of_learned"] = counts[..., MECHANISMS.index("manifold")] / learned
    return frac


def phase_fractions(zoo: Any, family: str | None = None, include_synthetic: bool = False) -> pd.DataFrame:
    """One row per (delay, lr): network count, count and fraction of failed / unstable / cycle / manifold, the
    learned fraction and the manifold share among learned networks."""
    g = grid(zoo, family, include_synthetic)
    counts = g.counts()
    frac = _fractions(counts)
    rows = []
    for d, delay in enumerate(g.delays):
        for l, lr in enumerate(g.lrs):
            n = int(counts[d, l].sum())
            if n == 0:
                continue
            row = {"delay_ms": float(delay), "lr": float(lr), "n": n}
            row.update({f"n_{m}": int(counts[d, l, k]) for k, m in enumerate(MECHANISMS)})
            row.update({f"frac_{m}": float(v[d, l]) for m, v in frac.items()})
            rows.append(row)
    return pd.DataFrame(rows)


# ---- critical learning rate ----------------------------------------------------------------------------------------
ESTIMATORS = ("monotone", "raw")


def monotone_fraction(learned_fraction: Iterable[float], weights: Iterable[float] | None = None) -> np.ndarray:
    """The non-increasing sequence closest (weighted least squares) to the learned fractions of one delay, ordered
    by increasing lr: pool-adjacent-violators. NaN cells (no networks) stay NaN and are skipped."""
    f = np.asarray(list(learned_fraction), float)
    w = np.ones_like(f) if weights is None else np.asarray(list(weights), float)
    out = np.full_like(f, np.nan)
    idx = np.flatnonzero(np.isfinite(f) & (w > 0))
    blocks: list[list[float]] = []  # [weighted mean, weight, number of cells]
    for i in idx:
        blocks.append([f[i], w[i], 1])
        while len(blocks) > 1 and blocks[-2][0] < blocks[-1][0]:  # a rise with the rate: pool the two blocks
            m2, w2, n2 = blocks.pop()
            m1, w1, n1 = blocks[-1]
            blocks[-1] = [(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2]
    out[idx] = np.repeat([b[0] for b in blocks], [b[2] for b in blocks])
    return out


def critical_crossing(learned_fraction: Iterable[float], lrs: Iterable[float], threshold: float = THRESHOLD,
                      estimator: str = "monotone", weights: Iterable[float] | None = None) -> tuple[float, str]:
    """(critical lr, status) from the learned fraction at each lr of one delay.

    status 'interior': interpolated in log lr between the largest rate with fraction >= threshold and the next
    larger rate; 'above': even the largest rate learns (lr is that rate, a lower bound); 'below': no rate learns
    (lr is the smallest rate, an upper bound); 'empty': no data. estimator 'monotone' first makes the fractions
    non-increasing in lr (monotone_fraction, weighted by `weights`, e.g. the seeds per cell); 'raw' uses them as
    they are.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; use one of {list(ESTIMATORS)}")
    f, lr = np.asarray(list(learned_fraction), float), np.asarray(list(lrs), float)
    w = np.ones_like(f) if weights is None else np.asarray(list(weights), float)
    keep = np.isfinite(f)
    f, lr, w = f[keep], lr[keep], w[keep]
    if f.size == 0:
        return math.nan, "empty"
    order = np.argsort(lr)
    f, x, w = f[order], np.log(lr[order]), w[order]
    if estimator == "monotone":
        f = monotone_fraction(f, w)
    ok = np.flatnonzero(f >= threshold)
    if ok.size == 0:
        return float(np.exp(x[0])), "below"
    i = int(ok[-1])
    if i == f.size - 1:
        return float(np.exp(x[-1])), "above"
    t = (f[i] - threshold) / (f[i] - f[i + 1])
    return float(np.exp(x[i] + t * (x[i + 1] - x[i]))), "interior"


@dataclass
class PowerLaw:
    """log10(y) = log10(prefactor) + exponent * log10(x), fitted by least squares."""

    exponent: float
    prefactor: float
    stderr: float  # standard error of the exponent (nan with fewer than 3 points)
    r2: float
    n: int

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.prefactor * np.asarray(x, float) ** self.exponent

    def to_dict(self) -> dict:
        return {k: _clean(v) for k, v in asdict(self).items()}


def fit_power_law(x: Iterable[float], y: Iterable[float]) -> PowerLaw:
    """Least-squares line through (log10 x, log10 y); needs at least two distinct positive x."""
    x, y = np.asarray(list(x), float), np.asarray(list(y), float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    lx, ly = np.log10(x[keep]), np.log10(y[keep])
    if lx.size < 2 or np.ptp(lx) == 0:
        raise ValueError(f"a power-law fit needs at least 2 points with distinct positive x; got {lx.size}")
    A = np.stack([np.ones_like(lx), lx], axis=1)
    (b0, b1), *_ = np.linalg.lstsq(A, ly, rcond=None)
    resid = ly - (b0 + b1 * lx)
    ss_tot = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else math.nan
    n = int(lx.size)
    stderr = math.sqrt(float(np.sum(resid**2)) / (n - 2) / float(np.sum((lx - lx.mean()) ** 2))) if n > 2 else math.nan
    return PowerLaw(float(b1), float(10**b0), stderr, r2, n)


def _seed_draws(n_seeds: int, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap multiplicities [n_boot, S]: how often each seed is drawn in each resample."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=n_boot).astype(np.float64)


def _interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    samples = np.asarray(samples, float)
    samples = samples[~np.isnan(samples)]
    if samples.size == 0:
        return math.nan, math.nan
    q = (1 - level) / 2
    lo, hi = np.quantile(samples, [q, 1 - q], method="inverted_cdf")  # no interpolation: +-inf bounds survive
    return float(lo), float(hi)


def critical_rates(zoo: Any, family: str | None = None, threshold: float = THRESHOLD, n_boot: int = 1000,
                   level: float = 0.95, seed: int = 0, include_synthetic: bool = False,
                   estimator: str = "monotone") -> pd.DataFrame:
    """One row per delay: critical lr, its status (interior / above / below the grid), and a bootstrap interval
    over seeds (a bound is +inf or 0 where resamples leave the grid). estimator: 'monotone' or 'raw'
    (critical_crossing)."""
    return _critical_analysis(grid(zoo, family, include_synthetic), threshold, n_boot, level, seed, estimator)[0]


def _critical_analysis(g: Grid, threshold: float, n_boot: int, level: float, seed: int, estimator: str):
    counts = g.counts()
    frac, n_cell = _fractions(counts)["learned"], counts.sum(axis=-1)
    draws = _seed_draws(len(g.seeds), n_boot, seed)
    boot_counts = g.counts(draws)
    boot_frac, boot_n = _fractions(boot_counts)["learned"], boot_counts.sum(axis=-1)  # [B, D, L]
    boot = np.full((n_boot, len(g.delays)), math.nan)
    rows = []
    for d, delay in enumerate(g.delays):
        value, status = critical_crossing(frac[d], g.lrs, threshold, estimator, n_cell[d])
        for b in range(n_boot):
            v, s = critical_crossing(boot_frac[b, d], g.lrs, threshold, estimator, boot_n[b, d])
            boot[b, d] = {"interior": v, "above": math.inf, "below": 0.0}.get(s, math.nan)
        lo, hi = _interval(boot[:, d], level)
        rows.append({"delay_ms": float(delay), "critical_lr": value, "status": status, "lo": lo, "hi": hi,
                     "n_seeds": int((g.codes[d] >= 0).any(axis=0).sum())})
    return pd.DataFrame(rows), boot


def critical_scaling(zoo: Any, family: str | None = None, threshold: float = THRESHOLD, n_boot: int = 1000,
                     level: float = 0.95, seed: int = 0, include_synthetic: bool = False,
                     estimator: str = "monotone") -> dict:
    """Critical lr per delay and its power-law fit lr_c = c T^p over the delays T > 0 where it lies inside the
    grid; the exponent's interval comes from refitting every bootstrap resample of the seeds. estimator:
    'monotone' or 'raw' (critical_crossing)."""
    g = grid(zoo, family, include_synthetic)
    table, boot = _critical_analysis(g, threshold, n_boot, level, seed, estimator)
    use = (table["status"] == "interior") & (table["delay_ms"] > 0)
    out: dict[str, Any] = {"estimator": estimator, "threshold": threshold, "level": level, "n_boot": n_boot,
                           "rates": _records(table), "fit_delays_ms": table.loc[use, "delay_ms"].tolist()}
    if use.sum() < 2:
        out["fit"] = None
        out["reason"] = (f"only {int(use.sum())} delays > 0 have a critical rate inside the learning-rate grid; "
                         "a power law needs 2 or more (widen the lr grid or train longer)")
        return out
    fit = fit_power_law(table.loc[use, "delay_ms"], table.loc[use, "critical_lr"])
    exps = []
    positive = g.delays > 0
    for b in range(n_boot):
        ok = positive & np.isfinite(boot[b]) & (boot[b] > 0)
        if ok.sum() >= max(2, min(3, int(use.sum()))):
            exps.append(fit_power_law(g.delays[ok], boot[b, ok]).exponent)
    lo, hi = _interval(np.array(exps), level)
    out["fit"] = {**fit.to_dict(), "lo": _clean(lo), "hi": _clean(hi), "n_boot_used": len(exps)}
    return out


# ---- manifold share against the delay --------------------------------------------------------------------------
_A_GRID = np.logspace(0, 5, 1001)  # ms


def fit_manifold_decay(delays: Iterable[float], share: Iterable[float], weights: Iterable[float] | None = None) -> float:
    """The a (ms) of share = 1 / (1 + T / a) by weighted least squares over a log grid 1 ms .. 1e5 ms, refined."""
    T, f = np.asarray(list(delays), float), np.asarray(list(share), float)
    w = np.ones_like(f) if weights is None else np.asarray(list(weights), float)
    keep = np.isfinite(f) & np.isfinite(T) & (w > 0)
    T, f, w = T[keep], f[keep], w[keep]
    if T.size == 0:
        return math.nan

    def sse(a: np.ndarray) -> np.ndarray:
        return np.sum(w * (f - 1.0 / (1.0 + T[None, :] / np.asarray(a)[:, None])) ** 2, axis=1)

    i = int(np.argmin(sse(_A_GRID)))
    lo, hi = np.log(_A_GRID[max(i - 1, 0)]), np.log(_A_GRID[min(i + 1, _A_GRID.size - 1)])
    for _ in range(40):  # golden-section refinement in log a
        m1, m2 = lo + 0.382 * (hi - lo), lo + 0.618 * (hi - lo)
        if sse(np.exp([m1]))[0] < sse(np.exp([m2]))[0]:
            hi = m2
        else:
            lo = m1
    return float(np.exp((lo + hi) / 2))


def manifold_fraction_fits(zoo: Any, family: str | None = None, n_boot: int = 1000, level: float = 0.95,
                           seed: int = 0, include_synthetic: bool = False) -> pd.DataFrame:
    """Per lr: the a (ms) of manifold share = 1 / (1 + T / a) (share among learned networks, each delay weighted by
    its learned count), a bootstrap interval over seeds, the delays used and the fit's RMS error."""
    g = grid(zoo, family, include_synthetic)
    counts = g.counts()
    draws = _seed_draws(len(g.seeds), n_boot, seed)
    boot_counts = g.counts(draws)
    man, cyc = MECHANISMS.index("manifold"), MECHANISMS.index("cycle")
    rows = []
    for l, lr in enumerate(g.lrs):
        learned = counts[:, l, man] + counts[:, l, cyc]
        use = learned > 0
        if use.sum() < 2:
            continue
        share = counts[use, l, man] / learned[use]
        a = fit_manifold_decay(g.delays[use], share, learned[use])
        resid = share - 1 / (1 + g.delays[use] / a)
        bl = boot_counts[:, :, l, man] + boot_counts[:, :, l, cyc]  # [B, D]
        with np.errstate(invalid="ignore", divide="ignore"):
            bshare = np.where(bl > 0, boot_counts[:, :, l, man] / bl, 0.0)
        model = 1.0 / (1.0 + g.delays[None, :] / _A_GRID[:, None])  # [A, D]
        sse = (bl * bshare**2).sum(1)[:, None] - 2 * (bl * bshare) @ model.T + bl @ (model**2).T  # [B, A]
        boots = np.where((bl > 0).sum(axis=1) >= 2, _A_GRID[np.argmin(sse, axis=1)], np.nan)  # grid resolution 1.2%
        lo, hi = _interval(np.array(boots), level)
        rows.append({"lr": float(lr), "a_ms": a, "lo": lo, "hi": hi, "n_delays": int(use.sum()),
                     "n_learned": int(learned.sum()), "rmse": float(np.sqrt(np.average(resid**2, weights=learned[use])))})
    return pd.DataFrame(rows, columns=["lr", "a_ms", "lo", "hi", "n_delays", "n_learned", "rmse"])


# ---- the reference's boundary fits, with its own estimators (Figures/Figure4, FigureS5, FigureS6) ----------------
REFERENCE_SLOW_POINT_RATES = 25  # the no-post script fits the slow-point boundary on its 25 largest rates only
REFERENCE_MIN_PEAK = 0.1  # ... and skips a rate (or response length) whose fraction never reaches 0.1


@dataclass(frozen=True)
class ReferenceSettings:
    """One family's settings in the reference's figure scripts (Figures/Figure4/code/{nopost,post}/plot_*.py).

    min_peak: a rate whose fraction never reaches it is skipped; p0_*: curve_fit's starting points (x0, k);
    slow_point_rates: only the N largest rates enter the slow-point fit (None: all); dropped_ranks: rates left out
    of both log-log fits, by rank among the family's rates sorted largest first (0 = the largest)."""

    protocol: str
    script: str
    min_peak: float
    p0_no_learning: tuple[float, float]
    p0_slow_point: tuple[float, float]
    slow_point_rates: int | None
    dropped_ranks: tuple[int, ...]


REFERENCE_SETTINGS = {
    "nopost": ReferenceSettings("nopost", "Figures/Figure4/code/nopost/plot_nopost.py", REFERENCE_MIN_PEAK,
                                (0.1, 0.1), (0.1, 0.1), REFERENCE_SLOW_POINT_RATES, ()),
    "post": ReferenceSettings("post", "Figures/Figure4/code/post/plot_post.py", 0.2, (0.5, 0.1), (0.1, 0.1), None,
                              (1,)),  # plot_post.py: threshold 0.2, p0 [0.5, 0.1], mask[1] = 0 in both fits
}
REFERENCE_CONTROL_P0 = (-5.0, -10.0)  # Figures/FigureS6/code/plot_fixed.py, with maxfev = 1e6


def _exp_saturation(T: np.ndarray, x0: float, k: float) -> np.ndarray:
    return np.where(T < x0, 0, 1 - np.exp(-k * (T - x0)))


def _rising_logistic(T: np.ndarray, x0: float, k: float) -> np.ndarray:
    return 1 / (1 + np.exp(-k * (T - x0)))


def _falling_logistic(x: np.ndarray, x0: float, k: float) -> np.ndarray:
    return 1 / (1 + np.exp(k * (x - x0)))


def _curve_fit(model, x: np.ndarray, y: np.ndarray, p0: Iterable[float], **kw) -> tuple[np.ndarray, np.ndarray] | None:
    """scipy's curve_fit as the reference calls it; None where it does not converge (the reference would stop)."""
    import warnings

    from scipy.optimize import OptimizeWarning, curve_fit

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            return curve_fit(model, x, y, p0=list(p0), **kw)
    except (RuntimeError, ValueError):
        return None


def reference_line(x: Iterable[float], y: Iterable[float]) -> dict | None:
    """log y = B log x + log A by curve_fit, as the reference fits lr against x0: B, its stderr from the fit's
    covariance, and R^2 from scipy.stats.linregress on the same points. None with fewer than 3 points."""
    from scipy import stats

    lx, ly = np.log(np.asarray(list(x), float)), np.log(np.asarray(list(y), float))
    if lx.size < 3:
        return None
    fitted = _curve_fit(lambda a, B, logA: B * a + logA, lx, ly, p0=[1.0, 1.0])
    if fitted is None:
        return None
    popt, pcov = fitted
    r = stats.linregress(lx, ly).rvalue
    return {"exponent": float(popt[0]), "stderr": float(np.sqrt(pcov[0, 0])), "prefactor": float(np.exp(popt[1])),
            "r2": float(r**2), "n_points": int(lx.size)}


def reference_counts(delays: Iterable[float], lrs: Iterable[float], k: np.ndarray, n: np.ndarray, *,
                     boundary: str = "no_learning", protocol: str = "nopost") -> dict:
    """The reference's fit of one boundary from counts on a (delay, lr) table: k[d, l] of n[d, l] networks show the
    event (not learned = failed + unstable, or slow-point manifold). Fractions are k / n, as the reference counts
    them. Per lr (largest first): skipped if its fraction never reaches settings.min_peak; else curve_fit of the
    onset model (no learning: 0 below x0, 1 - exp(-k (T - x0)) above) or the logistic 1 / (1 + exp(-k (T - x0)))
    (slow point) from the protocol's p0; then reference_line through (x0, lr) over x0 > 0, without the dropped ranks.

    Irregular tables (the reference assumes a full grid and would stop on an empty cell's 0 / 0): a cell with
    n = 0 is left out of its rate's fit; a rate needs 3 delays with networks; ranks (25 largest, dropped ranks)
    count the rates that have any networks. A fit that does not converge is listed with converged=False (the
    reference would stop there)."""
    if boundary not in ("no_learning", "slow_point"):
        raise ValueError(f"unknown boundary {boundary!r}; use 'no_learning' or 'slow_point'")
    if protocol not in REFERENCE_SETTINGS:
        raise ValueError(f"no reference boundary script for protocol {protocol!r}; use one of "
                         f"{list(REFERENCE_SETTINGS)} (the control: reference_control_fit)")
    s = REFERENCE_SETTINGS[protocol]
    delays, lrs = np.asarray(list(delays), float), np.asarray(list(lrs), float)
    k, n = np.asarray(k, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(n > 0, k / n, np.nan)
    present = np.flatnonzero((n > 0).any(axis=0))
    order = present[np.argsort(-lrs[present])]  # largest rate first, as the reference's lr_all
    model, p0 = ((_exp_saturation, s.p0_no_learning) if boundary == "no_learning"
                 else (_rising_logistic, s.p0_slow_point))
    n_rates = s.slow_point_rates if boundary == "slow_point" and s.slow_point_rates else len(order)
    per_lr = []
    for rank, l in enumerate(order[:n_rates]):
        y = frac[:, l]
        keep = np.isfinite(y)
        entry = {"lr": float(lrs[l]), "rank": rank, "dropped": rank in s.dropped_ranks}
        if keep.sum() < 3 or np.max(y[keep]) < s.min_peak:
            per_lr.append({**entry, "x0_ms": None, "k_per_ms": None, "converged": False, "skipped": True})
            continue
        fitted = _curve_fit(model, delays[keep], y[keep], p0=p0)
        if fitted is None:
            per_lr.append({**entry, "x0_ms": None, "k_per_ms": None, "converged": False, "skipped": False})
            continue
        x0, kk = (float(v) for v in fitted[0])
        per_lr.append({**entry, "x0_ms": x0, "k_per_ms": kk, "converged": True, "skipped": False})
    used = [r for r in per_lr if r["converged"] and r["x0_ms"] > 0 and not r["dropped"]]
    fit = reference_line([r["x0_ms"] for r in used], [r["lr"] for r in used])
    return {"per_lr": per_lr, "fit": fit, "estimator": f"reference ({s.script}; scipy curve_fit)",
            "settings": {"protocol": s.protocol, "script": s.script, "min_peak": s.min_peak,
                         "p0": list(p0), "rates": s.slow_point_rates if boundary == "slow_point" else None,
                         "dropped_ranks": list(s.dropped_ranks)}}


def reference_boundaries(zoo: Any, family: str | None = None, include_synthetic: bool = False,
                         protocol: str | None = None) -> dict:
    """The reference's boundary fits with the settings of the script that analyses this family's protocol
    (family_protocol; or force one with protocol=): 'nopost' (plot_nopost.py: min peak 0.1, p0 [0.1, 0.1], the
    slow-point fit over the 25 largest rates), 'post' (plot_post.py: min peak 0.2, p0 [0.5, 0.1] for no learning,
    the second-largest rate dropped from both log-log fits, the slow-point fit over every rate), 'control'
    (plot_fixed.py, reference_control_fit: returned under 'no_learning'). Returns {"protocol", "no_learning",
    "slow_point"} (slow_point None for the control); see reference_counts."""
    table = networks_frame(zoo, family, include_synthetic)
    protocol = protocol or family_protocol(table)
    if protocol == "control":
        control = reference_control_fit(table, str(table["family"].iloc[0]), include_synthetic=True)
        return {"protocol": "control", "no_learning": {**control, "estimator": "reference (Figures/FigureS6/code/"
                "plot_fixed.py; scipy curve_fit)"}, "slow_point": None}
    g = grid(table, None, include_synthetic=True)
    counts = g.counts()
    n = counts.sum(axis=-1)
    not_learned = counts[..., MECHANISMS.index("failed")] + counts[..., MECHANISMS.index("unstable")]
    out: dict[str, Any] = {"protocol": protocol}
    for name, k in (("no_learning", not_learned), ("slow_point", counts[..., MECHANISMS.index("manifold")])):
        out[name] = reference_counts(g.delays, g.lrs, k, n, boundary=name, protocol=protocol)
    return out


def reference_control_fit(zoo: Any, family: str = "control", include_synthetic: bool = False) -> dict:
    """The reference's analysis of the no-memory control (FigureS6, plot_fixed.py): per response length T, the
    not-learned fraction (not-learned count / networks, per lr) against log lr fitted by 1 / (1 + exp(k (log lr -
    x0))) (curve_fit, p0 = [-5, -10], maxfev 1e6); critical lr = exp(x0); then log lr_c against log T (paper:
    T^(-0.38 +- 0.02)). Not learned: any label but 'learned' (the control's own label) or cycle / manifold.
    Where the reference would stop (a length whose fraction never reaches 0.1 gives log 0 in its fit; curve_fit
    not converging), the length is listed as skipped or not converged and left out of the fit.

    Returns {"per_length": [{response_ms, lr_c, converged, x0, k, lrs, not_learned, n}], "fit": reference_line's
    dict or None, "paper": {exponent, pm}}; per_length lists every length, skipped ones with skipped=True."""
    table = networks_frame(zoo, family, include_synthetic)
    table = table.assign(not_learned=~table["mechanism"].isin(LEARNED + (CONTROL_LEARNED,)))
    per_length = []
    for reaction, part in table.groupby("reaction_ms"):
        by_lr = part.groupby("lr")["not_learned"].agg(["sum", "size"]).sort_index(ascending=False)
        y = by_lr["sum"].to_numpy(float) / by_lr["size"].to_numpy(float)  # counts / n, as the reference
        entry = {"response_ms": float(reaction), "lrs": by_lr.index.to_numpy(float).tolist(), "not_learned": y.tolist(),
                 "n": by_lr["size"].astype(int).tolist()}
        if np.max(y) < REFERENCE_MIN_PEAK:
            per_length.append({**entry, "lr_c": None, "converged": False, "skipped": True})
            continue
        fitted = _curve_fit(_falling_logistic, np.log(by_lr.index.to_numpy(float)), y, p0=REFERENCE_CONTROL_P0,
                            maxfev=1_000_000)
        lr_c = float(np.exp(fitted[0][0])) if fitted is not None else 0.0
        # curve_fit from p0 = [-5, -10] sometimes runs x0 to -inf (lr_c = 0), where the reference's log would fail
        converged = bool(np.isfinite(lr_c) and lr_c > 0)
        x0, k = (float(fitted[0][0]), float(fitted[0][1])) if fitted is not None else (None, None)
        per_length.append({**entry, "lr_c": lr_c if converged else None, "converged": converged, "skipped": False,
                           "x0": x0, "k": k})
    used = [r for r in per_length if r["converged"]]
    return {"per_length": per_length, "fit": reference_line([r["response_ms"] for r in used], [r["lr_c"] for r in used]),
            "paper": {"exponent": PAPER_EXPONENTS["control/no_learning"][0],
                      "pm": PAPER_EXPONENTS["control/no_learning"][1]}}


# ---- rnnzoo's boundary estimators (grid searches, kept beside the reference's) --------------------------------------
def fit_onset(delays: Iterable[float], fraction: Iterable[float]) -> tuple[float, float, float]:
    """(x0, k, sse) of fraction = 0 for T < x0 and 1 - exp(-k (T - x0)) above, by grid search (the reference's
    model of the not-learned fraction at one lr, fitted without curve_fit's dependence on its starting point)."""
    T, f = np.asarray(list(delays), float), np.asarray(list(fraction), float)
    keep = np.isfinite(f)
    T, f = T[keep], f[keep]
    span = max(float(np.ptp(T)), 1.0)
    x0 = np.linspace(T.min() - 0.5 * span, T.max() + 0.5 * span, 801)
    k = np.logspace(-4, 1, 151)
    dt = np.clip(T[None, None, :] - x0[:, None, None], 0, None)
    model = 1 - np.exp(-k[None, :, None] * dt)
    sse = np.sum((model - f) ** 2, axis=-1)
    i, j = np.unravel_index(int(np.argmin(sse)), sse.shape)
    return float(x0[i]), float(k[j]), float(sse[i, j])


def fit_logistic(delays: Iterable[float], fraction: Iterable[float]) -> tuple[float, float, float, float]:
    """(x0, width, amplitude, sse) of fraction = amplitude / (1 + exp((T - x0) / width)) (a falling logistic; the
    amplitude is solved exactly for each midpoint and width)."""
    T, f = np.asarray(list(delays), float), np.asarray(list(fraction), float)
    keep = np.isfinite(f)
    T, f = T[keep], f[keep]
    span = max(float(np.ptp(T)), 1.0)
    x0 = np.linspace(T.min() - 0.5 * span, T.max() + 0.5 * span, 801)
    width = np.logspace(np.log10(span / 200), np.log10(span * 2), 81)
    h = 1 / (1 + np.exp(np.clip((T[None, None, :] - x0[:, None, None]) / width[None, :, None], -50, 50)))
    amp = np.clip(np.sum(h * f, -1) / np.maximum(np.sum(h * h, -1), 1e-12), 0, 1)
    sse = np.sum((amp[..., None] * h - f) ** 2, axis=-1)
    i, j = np.unravel_index(int(np.argmin(sse)), sse.shape)
    return float(x0[i]), float(width[j]), float(amp[i, j]), float(sse[i, j])


def grid_boundaries(zoo: Any, family: str | None = None, include_synthetic: bool = False) -> dict:
    """rnnzoo's boundary fits: the reference's two models fitted by grid search (global, no starting point), the
    slow-point logistic with a free amplitude, every rate used; an x0 counts only when it lies strictly inside the
    delays sampled (T > 0); then lr against x0 on log-log axes (fit_power_law)."""
    g = grid(zoo, family, include_synthetic)
    frac = _fractions(g.counts())
    lo, hi = g.delays.min(), g.delays.max()
    out = {}
    for name, series, fitter in (("no_learning", 1 - frac["learned"], fit_onset),
                                 ("slow_point", frac["manifold"], fit_logistic)):
        per_lr = []
        for l, lr in enumerate(g.lrs):
            y = series[:, l]
            if np.isfinite(y).sum() < 3:
                continue
            res = fitter(g.delays, y)
            inside = bool(max(lo, 0) < res[0] < hi)
            per_lr.append({"lr": float(lr), "x0_ms": res[0], "inside": inside,
                           **({"k_per_ms": res[1]} if name == "no_learning" else {"width_ms": res[1], "amplitude": res[2]})})
        used = [r for r in per_lr if r["inside"]]
        fit = fit_power_law([r["x0_ms"] for r in used], [r["lr"] for r in used]).to_dict() if len(used) >= 2 else None
        out[name] = {"per_lr": per_lr, "fit": fit, "estimator": "rnnzoo (grid search)"}
    return out


# ---- everything at once --------------------------------------------------------------------------------------------
def analyse(zoo: Any, family: str | None = None, n_boot: int = 1000, seed: int = 0,
            include_synthetic: bool = False) -> dict:
    """Every phase statistic of one family as JSON-able data: fractions, critical rates and their power law, the
    manifold-share fits, the boundary fits (the reference's estimators with this family's protocol settings, and the
    likelihood fit of rnnzoo.boundaries beside them), and the paper's and theory's exponents for comparison."""
    table = networks_frame(zoo, family, include_synthetic)
    family = str(table["family"].iloc[0])
    fractions = phase_fractions(table, family, include_synthetic=True)
    critical = critical_scaling(table, family, n_boot=n_boot, seed=seed, include_synthetic=True)
    critical_raw = critical_scaling(table, family, n_boot=n_boot, seed=seed, include_synthetic=True, estimator="raw")
    raw_fit = critical_raw.get("fit") or {}
    manifold = manifold_fraction_fits(table, family, n_boot=n_boot, seed=seed, include_synthetic=True)
    reference = reference_boundaries(table, family, include_synthetic=True)
    protocol = reference["protocol"]
    likelihood = likelihood_fits(table, family=family, include_synthetic=True)
    grid_fits = grid_boundaries(table, family, include_synthetic=True)
    fit = critical.get("fit") or {}
    ml_nl, ml_sp = likelihood["no_learning"], likelihood["slow_point"]
    summary = {  # the headline numbers, for READMEs and dataset cards
        "critical_exponent": fit.get("exponent"), "critical_exponent_stderr": fit.get("stderr"),
        "critical_exponent_ci": [fit.get("lo"), fit.get("hi")], "critical_r2": fit.get("r2"),
        "critical_fit_delays_ms": critical["fit_delays_ms"],
        "critical_estimator": critical["estimator"],
        "raw_critical_exponent": raw_fit.get("exponent"), "raw_critical_exponent_ci": [raw_fit.get("lo"), raw_fit.get("hi")],
        "raw_critical_fit_delays_ms": critical_raw["fit_delays_ms"],
        "reference_no_learning_exponent": (reference["no_learning"]["fit"] or {}).get("exponent"),
        "reference_no_learning_stderr": (reference["no_learning"]["fit"] or {}).get("stderr"),
        "reference_slow_point_exponent": (reference["slow_point"]["fit"] or {}).get("exponent"),
        "reference_slow_point_stderr": (reference["slow_point"]["fit"] or {}).get("stderr"),
        "protocol": protocol,
        "likelihood_no_learning_exponent": ml_nl.get("exponent"), "likelihood_no_learning_stderr": ml_nl.get("stderr"),
        "likelihood_no_learning_ci": [ml_nl.get("lo"), ml_nl.get("hi")],
        "likelihood_slow_point_exponent": ml_sp.get("exponent"), "likelihood_slow_point_stderr": ml_sp.get("stderr"),
        "likelihood_slow_point_ci": [ml_sp.get("lo"), ml_sp.get("hi")],
        "grid_no_learning_exponent": (grid_fits["no_learning"]["fit"] or {}).get("exponent"),
        "grid_slow_point_exponent": (grid_fits["slow_point"]["fit"] or {}).get("exponent"),
        "manifold_a_ms": {f"{r['lr']:.4g}": _clean(r["a_ms"]) for r in manifold.to_dict(orient="records")},
    }
    return {
        "summary": summary,
        "family": family,
        "n_networks": int(len(table)),
        "delays_ms": sorted(float(d) for d in table["delay_ms"].unique()),
        "lrs": sorted(float(x) for x in fractions["lr"].unique()),
        "n_seeds": int(table["seed"].nunique()),
        "mechanism_totals": {m: int((table["mechanism"] == m).sum()) for m in MECHANISMS},
        "fractions": _records(fractions),
        "critical": critical,
        "critical_raw": critical_raw,
        "manifold_fits": _records(manifold),
        "protocol": protocol,
        "reference_fits": reference,
        "likelihood_fits": likelihood,
        "grid_fits": grid_fits,
        "paper_exponents": {k: {"exponent": v[0], "pm": v[1], "r2": v[2]} for k, v in PAPER_EXPONENTS.items()},
        "theory_exponents": dict(THEORY_EXPONENTS),
    }


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
