"""Maximum-likelihood fits of the phase boundaries on the seed counts of each (delay, learning rate) cell.

The reference (arXiv 2502.17433, Figures/Figure4) estimates a boundary in two least-squares steps: per learning
rate, an onset delay x0 from the cell fractions, then a line through (log x0, log lr). That throws away how many
seeds stand behind each fraction, needs a full grid, and is biased (on tables drawn from a known T^-2.7 law it
returns about -2.9). This module fits the counts themselves:

    k seeds of n show the event in the cell (T, lr)   ~   Binomial(n, p(T, lr))
    p(T, lr) = c * sigmoid((log lr - log lr_c(T)) / w)          (no-learning boundary: event = not learned)
    p(T, lr) = c * sigmoid((log lr_c(T) - log lr) / w)          (slow-point boundary: event = slow-point manifold)
    log lr_c(T) = log A + b log T                                (the power law; b is the exponent)

Why this form: each seed of a cell either crosses the boundary or not, so a cell is binomial; a logistic in log lr
is the reference's own model of the control family (FigureS6) and, with one width w shared by every delay, the
boundary keeps its shape along the power law, so b does not depend on which quantile (onset, midpoint) defines
lr_c. Without the ceiling c (c = 1) the model is a logistic regression on (log lr, log T), a convex problem with
one optimum: no starting point to choose. The slow-point boundary frees c (its default) because manifolds share
even the easiest cells with limit cycles; the fraction is taken among ALL networks of a cell, the paper's quantity
(the reference's met[..., 2] = manifold count / every network of the cell). Delays T <= 0 have no place on a
power law in T and are left out (the reference drops x0 <= 0 for the same reason).

Intervals: the profile likelihood of b (default; chi-square with 1 degree of freedom), the Wald interval from the
observed information (stderr, always reported), or a bootstrap over seeds (a seed is one initial network shared by
every cell of a sweep, so resampling seeds keeps whatever the cells share). benchmarks/bench_boundaries.py measures
bias and coverage on synthetic tables against the reference's onset estimator.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

BOUNDARIES = ("no_learning", "slow_point")
ONE_SIGMA = 0.6826894921370859  # the level of a +-1 standard-error interval
INTERVALS = ("profile", "wald", "bootstrap")
NOPOST_LRS = tuple(float(x) for x in np.sort(np.concatenate([np.logspace(-1, -3, 15), np.logspace(-0.5, -2, 20)[:15]])))
_RIDGE = 1e-8  # keeps Newton finite when a table separates perfectly (no overlap between events and non-events)


# ---- the result ----------------------------------------------------------------------------------------------------
@dataclass
class BoundaryFit:
    """A power-law boundary lr_c(T) = prefactor * T**exponent fitted by maximum likelihood on seed counts."""

    boundary: str
    exponent: float
    stderr: float  # Wald (observed information), or the bootstrap's standard deviation when interval="bootstrap"
    lo: float
    hi: float
    level: float
    interval: str
    prefactor: float  # lr_c at T = 1 ms (T in ms)
    width: float  # logistic scale w of the boundary, in natural-log learning-rate units
    ceiling: float | None  # c, the event's share far on its side of the boundary (None: fixed at 1)
    n_networks: int
    n_cells: int
    n_delays: int
    deviance: float  # against the saturated model (one p per cell): a goodness-of-fit check, ~ df if the model holds
    df: int
    converged: bool
    length: str = "delay_ms"  # the column T comes from (reaction_ms for the no-memory control)
    family: str | None = None
    n_boot: int | None = None
    per_delay: list[dict] = field(default_factory=list)

    def critical_lr(self, T: Any) -> np.ndarray:
        """lr_c(T) of the fitted power law (T in ms)."""
        return self.prefactor * np.asarray(T, float) ** self.exponent

    def to_dict(self) -> dict:
        return {k: (_clean(v) if k != "per_delay" else [{a: _clean(b) for a, b in r.items()} for r in v])
                for k, v in asdict(self).items()}


# ---- the likelihood --------------------------------------------------------------------------------------------------
def _loglik(theta: np.ndarray, X: np.ndarray, k: np.ndarray, n: np.ndarray, ceiling: bool,
            gradient: bool = True) -> tuple[float, np.ndarray | None]:
    """Binomial log-likelihood of p = c * sigmoid(X @ beta) (c = sigmoid(gamma), the last theta, when ceiling) and
    its gradient; every log is taken in a form that stays finite for large |eta|. A trial step of the Newton
    ascent may leave the finite range (theta infinite: a separable table); its log-likelihood is then NaN, which the
    step halving rejects, so numpy's warnings about it are silenced."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        return _loglik_values(theta, X, k, n, ceiling, gradient)


def _loglik_values(theta: np.ndarray, X: np.ndarray, k: np.ndarray, n: np.ndarray, ceiling: bool,
                   gradient: bool) -> tuple[float, np.ndarray | None]:
    p_beta = X.shape[1]
    eta = X @ theta[:p_beta]
    log_s = -np.logaddexp(0.0, -eta)  # log sigmoid(eta)
    log_1ms = -np.logaddexp(0.0, eta)  # log (1 - sigmoid(eta))
    if ceiling:
        gamma = theta[p_beta]
        log_c, log_1mc = -np.logaddexp(0.0, -gamma), -np.logaddexp(0.0, gamma)
        log_1mp = np.logaddexp(0.0, eta + log_1mc) + log_1ms  # log(1 - c s) = log(1 + (1 - c) e^eta) - log(1 + e^eta)
    else:
        log_c, log_1mp = 0.0, log_1ms
    ll = float(np.sum(k * (log_c + log_s) + (n - k) * log_1mp))
    if not gradient:
        return ll, None
    # d ll / d eta = k (1 - s) - (n - k) c s (1 - s) / (1 - c s)
    ratio = np.exp(log_1ms - log_1mp)  # (1 - s) / (1 - c s), in (0, 1]
    s = np.exp(log_s)
    d_eta = k * np.exp(log_1ms) - (n - k) * np.exp(log_c) * s * ratio
    grad = X.T @ d_eta
    if ceiling:
        c = math.exp(log_c)
        d_gamma = float(np.sum(k * (1 - c) - (n - k) * s * c * (1 - c) / np.exp(log_1mp)))
        grad = np.append(grad, d_gamma)
    return ll, grad


def _hessian(theta, X, k, n, ceiling) -> np.ndarray:
    """Analytic for the logistic regression (c = 1); central differences of the gradient otherwise."""
    if not ceiling:
        from scipy.special import expit

        s = expit(X @ theta)
        return -(X.T * (n * s * (1 - s))) @ X
    H = np.empty((theta.size, theta.size))
    for i in range(theta.size):
        h = 1e-5 * max(1.0, abs(theta[i]))
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        H[i] = (_loglik(up, X, k, n, True)[1] - _loglik(down, X, k, n, True)[1]) / (2 * h)
    return (H + H.T) / 2


def _maximise(X, k, n, ceiling: bool, start: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, bool]:
    """Damped Newton ascent with step halving: (theta, log-likelihood, Hessian, converged)."""
    theta = start.astype(float).copy()
    ridge = _RIDGE * np.eye(theta.size)
    ll, g = _loglik(theta, X, k, n, ceiling)
    converged = False
    for _ in range(200):
        H = _hessian(theta, X, k, n, ceiling) - ridge
        try:
            step = np.linalg.solve(-H, g)
            if not np.all(np.isfinite(step)) or g @ step <= 0:  # not an ascent direction: fall back to gradient
                raise np.linalg.LinAlgError
        except np.linalg.LinAlgError:
            step = g / max(1.0, float(np.abs(np.diag(H)).max()))
        t = 1.0
        for _ in range(50):
            new = theta + t * step
            new_ll, new_g = _loglik(new, X, k, n, ceiling)
            if np.isfinite(new_ll) and new_ll >= ll - 1e-12:
                break
            t /= 2
        else:
            break
        theta, gain = new, new_ll - ll
        ll, g = new_ll, new_g
        if np.max(np.abs(t * step)) < 1e-9 or (gain < 1e-11 and np.max(np.abs(g)) < 1e-6 * max(1.0, float(n.sum()))):
            converged = True
            break
    return theta, ll, _hessian(theta, X, k, n, ceiling), converged


@dataclass
class _Data:
    x: np.ndarray  # log lr per cell, centred
    t: np.ndarray  # log T per cell, centred
    x_mean: float
    t_mean: float
    k: np.ndarray
    n: np.ndarray
    sign: float  # +1: the event grows with lr (no learning); -1: it falls (slow point)


def _design(d: _Data, b: float | None = None) -> np.ndarray:
    ones = np.ones_like(d.x)
    if b is None:
        return np.stack([ones, d.sign * d.x, d.sign * d.t], axis=1)
    return np.stack([ones, d.sign * (d.x - b * d.t)], axis=1)


def _start(d: _Data, ceiling: bool) -> np.ndarray:
    theta, *_ = _maximise(_design(d), d.k, d.n, False, np.zeros(3))
    if ceiling:
        top = float(np.clip(d.k.sum() / max(d.n.sum(), 1) * 2, 0.05, 0.95))
        theta = np.append(theta, math.log(top / (1 - top)))
    return theta


def _exponent(theta: np.ndarray) -> float:
    return -theta[2] / theta[1]  # eta = s (beta1 x + beta2 t) = 0  <=>  x = -(beta2 / beta1) t + const


def _fit(d: _Data, ceiling: bool, start: np.ndarray | None = None):
    theta, ll, H, ok = _maximise(_design(d), d.k, d.n, ceiling, _start(d, ceiling) if start is None else start)
    return theta, ll, H, ok


def _wald_stderr(theta: np.ndarray, H: np.ndarray) -> float:
    grad = np.zeros(theta.size)
    grad[1], grad[2] = theta[2] / theta[1] ** 2, -1 / theta[1]
    try:
        cov = np.linalg.inv(-H)
    except np.linalg.LinAlgError:
        return math.nan
    var = float(grad @ cov @ grad)
    return math.sqrt(var) if var > 0 else math.nan


def _profile_interval(d: _Data, ceiling: bool, theta: np.ndarray, ll: float, se: float,
                      level: float) -> tuple[float, float]:
    """{b : 2 (ll_max - ll_profile(b)) <= chi2_1(level)}, each end found by bracketing and brentq."""
    from scipy.optimize import brentq
    from scipy.stats import chi2

    q = float(chi2.ppf(level, 1))
    b_hat = _exponent(theta)
    warm = {"theta": np.delete(theta, 2)}  # (beta0, beta1[, gamma]) with beta2 = -b beta1

    def excess(b: float) -> float:
        t, prof, _, _ = _maximise(_design(d, b), d.k, d.n, ceiling, warm["theta"])
        warm["theta"] = t
        return 2 * (ll - prof) - q

    step = se if np.isfinite(se) and se > 0 else 0.1
    ends = []
    for direction in (-1.0, 1.0):
        warm["theta"] = np.delete(theta, 2)
        inner, outer = b_hat, b_hat + direction * step
        found = False
        for _ in range(40):
            if excess(outer) > 0:
                found = True
                break
            inner, outer = outer, b_hat + 2 * (outer - b_hat)
        if not found:
            ends.append(direction * math.inf)
            continue
        warm["theta"] = np.delete(theta, 2)
        ends.append(float(brentq(excess, min(inner, outer), max(inner, outer), xtol=1e-6)))
    return ends[0], ends[1]


def _per_delay(d: _Data, theta: np.ndarray, ceiling: bool, delay_of_cell: np.ndarray, level: float) -> list[dict]:
    """Per delay, the critical rate with the width (and ceiling) held at the joint fit: a one-parameter likelihood
    in the boundary's location, with a Wald interval. 'above' / 'below': the location lies beyond the rates
    sampled at that delay (a bound, not an estimate)."""
    from scipy.optimize import minimize_scalar
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + level / 2))
    beta1 = theta[1]
    extra = theta[3:] if ceiling else np.array([])
    rows = []
    x_raw = d.x + d.x_mean
    for T in np.unique(delay_of_cell):
        m = delay_of_cell == T
        x, k, n = x_raw[m], d.k[m], d.n[m]
        X = (d.sign * beta1 * x)[:, None]  # eta = sign beta1 (x - loc) = X * 1 + offset; fit the offset as beta0

        def nll(loc: float) -> float:
            th = np.concatenate([[-d.sign * beta1 * loc, 1.0], extra])
            return -_loglik(th, np.column_stack([np.ones_like(x), X[:, 0]]), k, n, ceiling, gradient=False)[0]

        lo_x, hi_x = float(x.min()), float(x.max())
        pad = 6 * abs(1 / beta1) + 1.0
        res = minimize_scalar(nll, bounds=(lo_x - pad, hi_x + pad), method="bounded", options={"xatol": 1e-7})
        loc = float(res.x)
        h = 1e-4
        curv = (nll(loc + h) - 2 * nll(loc) + nll(loc - h)) / h**2
        se = 1 / math.sqrt(curv) if curv > 0 else math.nan
        status = "interior" if lo_x <= loc <= hi_x else ("above" if loc > hi_x else "below")
        if status == "interior":
            value, lo, hi = math.exp(loc), math.exp(loc - z * se), math.exp(loc + z * se)
        else:  # beyond the sampled rates: report the edge as a bound, as phases.critical_crossing does
            value, lo, hi = math.exp(hi_x if status == "above" else lo_x), math.nan, math.nan
        rows.append({"delay_ms": float(T), "critical_lr": value, "lo": lo, "hi": hi, "status": status,
                     "n": int(n.sum()), "k": int(k.sum()), "n_rates": int(m.sum())})
    return rows


def fit_counts(delays: Iterable[float], lrs: Iterable[float], k: Iterable[float], n: Iterable[float], *,
               boundary: str = "no_learning", ceiling: bool | None = None, level: float = 0.95,
               interval: str = "profile", per_delay: bool = True) -> BoundaryFit:
    """The likelihood fit on one count per cell: k of n networks at (delay, lr) show the event (not learned for
    'no_learning', slow-point manifold for 'slow_point'). Cells may be missing or repeated; T <= 0 is left out.
    interval 'profile' or 'wald' ('bootstrap' needs the seeds: use boundary_likelihood)."""
    if boundary not in BOUNDARIES:
        raise ValueError(f"unknown boundary {boundary!r}; use one of {list(BOUNDARIES)}")
    if interval not in ("profile", "wald"):
        raise ValueError(f"fit_counts offers interval 'profile' or 'wald', not {interval!r} (a bootstrap over seeds "
                         "needs the networks: use boundary_likelihood(..., interval='bootstrap'))")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    T, lr, k, n = (np.asarray(list(v), float) for v in (delays, lrs, k, n))
    if not (T.shape == lr.shape == k.shape == n.shape):
        raise ValueError("delays, lrs, k and n must have one entry per cell")
    if np.any(k < 0) or np.any(k > n):
        raise ValueError("every cell needs 0 <= k <= n")
    if np.any(lr <= 0) or not np.all(np.isfinite(lr)):
        raise ValueError("learning rates must be positive and finite")
    keep = (T > 0) & (n > 0)
    T, lr, k, n = T[keep], lr[keep], k[keep], n[keep]
    if len(np.unique(T)) < 2 or len(np.unique(lr)) < 2:
        raise ValueError(f"a power-law boundary needs at least 2 delays > 0 and 2 learning rates with networks; got "
                         f"{len(np.unique(T))} delays and {len(np.unique(lr))} rates (train more of the grid)")
    if k.sum() == 0 or k.sum() == n.sum():
        event = {"no_learning": "not-learned", "slow_point": "slow-point manifold"}[boundary]
        raise ValueError(f"no boundary to fit: {'no' if k.sum() == 0 else 'every'} network is {event} "
                         f"({int(n.sum())} networks); widen the learning-rate or delay grid")
    if ceiling is None:
        ceiling = boundary == "slow_point"
    x, t = np.log(lr), np.log(T)
    d = _Data(x - x.mean(), t - t.mean(), float(x.mean()), float(t.mean()), k, n,
              1.0 if boundary == "no_learning" else -1.0)
    theta, ll, H, ok = _fit(d, ceiling)
    b = _exponent(theta)
    se = _wald_stderr(theta, H)
    if interval == "profile":
        lo, hi = _profile_interval(d, ceiling, theta, ll, se, level)
    else:
        from scipy.stats import norm

        z = float(norm.ppf(0.5 + level / 2))
        lo, hi = b - z * se, b + z * se
    # eta = sign beta1 ((x - xm) - b (t - tm)) + beta0 = 0  <=>  x = xm - sign beta0 / beta1 + b (t - tm)
    log_a = d.x_mean - d.sign * theta[0] / theta[1] - b * d.t_mean
    p_hat = np.clip(k / n, 1e-300, 1)
    sat = float(np.sum(k * np.log(p_hat) + (n - k) * np.log(np.clip(1 - k / n, 1e-300, 1))))
    return BoundaryFit(boundary=boundary, exponent=float(b), stderr=float(se), lo=float(lo), hi=float(hi),
                       level=level, interval=interval, prefactor=float(math.exp(log_a)), width=float(1 / abs(theta[1])),
                       ceiling=float(1 / (1 + math.exp(-theta[3]))) if ceiling else None,
                       n_networks=int(n.sum()), n_cells=int(len(n)), n_delays=int(len(np.unique(T))),
                       deviance=float(2 * (sat - ll)), df=int(len(n) - theta.size), converged=bool(ok),
                       per_delay=_per_delay(d, theta, ceiling, T, level) if per_delay else [])


# ---- from a networks table -----------------------------------------------------------------------------------------
def _events(table: pd.DataFrame, boundary: str, control: bool) -> np.ndarray:
    mech = table["mechanism"].astype(str).to_numpy()
    if control:
        if boundary != "no_learning":
            raise ValueError("the no-memory control has only a no-learning boundary (its networks are labelled "
                             "learned / failed); use boundary='no_learning'")
        return ~np.isin(mech, ("learned", "cycle", "manifold"))
    if boundary == "no_learning":
        return np.isin(mech, ("failed", "unstable"))
    return mech == "manifold"


def boundary_likelihood(zoo: Any, *, family: str | None = None, boundary: str = "no_learning",
                        level: float = 0.95, interval: str = "profile", ceiling: bool | None = None,
                        n_boot: int = 200, seed: int = 0, include_synthetic: bool = False,
                        per_delay: bool = True) -> BoundaryFit:
    """The likelihood fit of one family's boundary from its networks (a Zoo, or a DataFrame with columns family,
    delay_ms, lr, seed, mechanism; the no-memory control's T is reaction_ms, its response length). Works on any
    table: cells may hold different numbers of seeds or none. interval: 'profile' (default), 'wald', or
    'bootstrap' (n_boot resamples of the seeds, each refitted; stderr is then their standard deviation)."""
    from rnnzoo.family_table import family_protocol, networks_frame

    if interval not in INTERVALS:
        raise ValueError(f"unknown interval {interval!r}; use one of {list(INTERVALS)}")
    table = networks_frame(zoo, family, include_synthetic)
    name = str(table["family"].iloc[0])
    control = family_protocol(table) == "control"
    length = "reaction_ms" if control else "delay_ms"
    event = _events(table, boundary, control).astype(float)
    T = table[length].to_numpy(float)
    lr = table["lr"].to_numpy(float)
    lr_key = np.round(np.log10(lr), 4)  # rates equal to 1e-4 decades are one rate
    keys, cell = np.unique(np.stack([T, lr_key], axis=1), axis=0, return_inverse=True)
    cell = cell.ravel()
    n = np.bincount(cell, minlength=len(keys)).astype(float)
    k = np.bincount(cell, weights=event, minlength=len(keys))
    cell_T, cell_lr = keys[:, 0], 10 ** keys[:, 1]
    fit = fit_counts(cell_T, cell_lr, k, n, boundary=boundary, ceiling=ceiling, level=level,
                     interval="wald" if interval == "bootstrap" else interval, per_delay=per_delay)
    fit.family, fit.length = name, length
    if interval == "bootstrap":
        seeds, seed_index = np.unique(table["seed"].to_numpy(), return_inverse=True)
        draws = np.random.default_rng(seed).multinomial(len(seeds), np.full(len(seeds), 1 / len(seeds)), size=n_boot)
        exps = []
        for w in draws.astype(float):
            wn = w[seed_index]
            nb = np.bincount(cell, weights=wn, minlength=len(keys))
            kb = np.bincount(cell, weights=wn * event, minlength=len(keys))
            try:
                exps.append(fit_counts(cell_T, cell_lr, kb, nb, boundary=boundary, ceiling=ceiling, level=level,
                                       interval="wald", per_delay=False).exponent)
            except ValueError:  # a resample without a boundary to fit
                continue
        exps = np.asarray(exps)
        if exps.size < 2:
            raise ValueError(f"only {exps.size} of {n_boot} seed resamples had a boundary to fit; use "
                             "interval='profile' (or train more seeds)")
        q = (1 - level) / 2
        fit.lo, fit.hi = (float(v) for v in np.quantile(exps, [q, 1 - q]))
        fit.stderr = float(np.std(exps, ddof=1))
        fit.interval, fit.n_boot = "bootstrap", int(len(exps))
    return fit


def cell_counts(networks: pd.DataFrame, *, boundary: str = "no_learning", length: str = "delay_ms"
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(delays [D], lrs [L] ascending, k [D, L], n [D, L]) of one family's networks: the event counts on the full
    (delay, lr) grid the table spans, n = 0 where a cell holds no network (phases.reference_counts reads these)."""
    control = length == "reaction_ms"
    event = _events(networks, boundary, control).astype(float)
    delays, d = np.unique(networks[length].to_numpy(float), return_inverse=True)
    lr = networks["lr"].to_numpy(float)
    keys, first, l_index = np.unique(np.round(np.log10(lr), 4), return_index=True, return_inverse=True)
    shape = (len(delays), len(keys))
    flat = np.ravel_multi_index((d.ravel(), l_index.ravel()), shape)
    n = np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape).astype(float)
    k = np.bincount(flat, weights=event, minlength=shape[0] * shape[1]).reshape(shape)
    return delays, lr[first], k, n


def exponent_estimate(networks: pd.DataFrame, *, family: str | None = None, boundary: str = "no_learning",
                      include_synthetic: bool = True) -> tuple[float, float]:
    """(exponent, standard error) of one family's boundary for a planner that asks after every round: the
    likelihood fit, with the larger of its Wald error and the half-width of its 68% profile-likelihood interval.
    On the sparse tables of an adaptive run's early rounds the Wald error alone was too small (the slow-point fit
    stopped 2 runs of 10 on an estimate more than 2 Wald errors from the truth; benchmarks/bench_adaptive.py); the
    profile interval follows the likelihood's real shape. Milliseconds for the no-learning fit, up to ~0.5 s for
    the slow-point fit with its ceiling."""
    fit = boundary_likelihood(networks, family=family, boundary=boundary, interval="profile", level=ONE_SIGMA,
                              include_synthetic=include_synthetic, per_delay=False)
    half_width = (fit.hi - fit.lo) / 2 if math.isfinite(fit.hi) and math.isfinite(fit.lo) else math.inf
    return fit.exponent, max(fit.stderr, half_width)


def likelihood_fits(zoo: Any, *, family: str | None = None, level: float = 0.95,
                    include_synthetic: bool = False) -> dict:
    """Every boundary of one family as JSON-able dicts (profile intervals): no_learning and slow_point, or only
    no_learning for the no-memory control. A boundary the table cannot fit is {"exponent": None, "reason": why}."""
    from rnnzoo.family_table import family_protocol, networks_frame

    table = networks_frame(zoo, family, include_synthetic)
    names = ("no_learning",) if family_protocol(table) == "control" else BOUNDARIES
    out = {}
    for name in names:
        try:
            out[name] = boundary_likelihood(table, boundary=name, level=level, include_synthetic=True).to_dict()
        except ValueError as err:
            out[name] = {"boundary": name, "exponent": None, "reason": str(err)}
    return out


# ---- synthetic tables with a known boundary --------------------------------------------------------------------------
def synthetic_networks(rng: np.random.Generator, *, exponent: float = -2.7, lr_at_200: float = 0.13,
                       width: float = 0.3, delays: Sequence[float] = tuple(range(0, 401, 20)),
                       lrs: Sequence[float] = NOPOST_LRS, seeds: tuple[int, int] = (20, 100), missing: float = 0.0,
                       seed_sd: float = 0.0, boundary: str = "no_learning", ceiling: float = 1.0,
                       family: str = "nopost") -> pd.DataFrame:
    """A networks table drawn from a known boundary lr_c(T) = lr_at_200 (T / 200)^exponent: each network of cell
    (T, lr) shows the event with probability ceiling * sigmoid(+-(log lr - log lr_c(T)) / width) (T = 0: never for
    no learning, the ceiling for the slow point), each cell holds a uniform draw of seeds[0]..seeds[1] networks
    (seeds 0..n-1), a share `missing` of the cells is left out, and seed_sd (log-lr units) gives every seed one
    offset of its boundary shared by all cells (correlated seeds). no_learning: not learned = failed or (every
    fourth seed) unstable, learned = cycle; slow_point: manifold, else cycle."""
    if boundary not in BOUNDARIES:
        raise ValueError(f"unknown boundary {boundary!r}; use one of {list(BOUNDARIES)}")
    grid = [(float(T), float(lr)) for T in delays for lr in lrs]
    keep = rng.random(len(grid)) >= missing
    cells = [c for c, kept in zip(grid, keep) if kept]
    counts = rng.integers(seeds[0], seeds[1] + 1, size=len(cells))
    T = np.repeat([c[0] for c in cells], counts)
    lr = np.repeat([c[1] for c in cells], counts)
    seed = np.concatenate([np.arange(c) for c in counts])
    offsets = rng.normal(0.0, seed_sd, size=int(seeds[1]) + 1) if seed_sd > 0 else np.zeros(int(seeds[1]) + 1)
    with np.errstate(divide="ignore"):
        log_c = np.log(lr_at_200) + exponent * (np.log(T) - math.log(200.0)) + offsets[seed]
    z = (np.log(lr) - log_c) / width
    sign = 1.0 if boundary == "no_learning" else -1.0
    p = ceiling / (1 + np.exp(-np.clip(sign * z, -500, 500)))
    event = rng.random(len(p)) < p
    if boundary == "no_learning":
        mech = np.where(event, np.where(seed % 4 == 0, "unstable", "failed"), "cycle")
    else:
        mech = np.where(event, "manifold", "cycle")
    return pd.DataFrame({"family": family, "delay_ms": T, "lr": lr, "seed": seed, "mechanism": mech,
                         "post_ms": 0.0, "target_held": False, "reaction_ms": 50.0})


def _clean(v: Any) -> Any:
    from rnnzoo.family_table import _clean as clean

    return clean(v)
