"""The paper's figures from a zoo (arXiv 2502.17433): phase diagram, critical-rate scaling, manifold share.

    make_figures(zoo, "figures/")   # or rnnzoo figures --source DIR --out figures/

For every family with a delay grid it writes phase-diagram-<family>.png, critical-rate-<family>.png and
manifold-fraction-<family>.png; for the no-memory control, control-<family>.png (the reference's FigureS6 analysis:
not-learned fraction against lr per response length, then lr_c against the response length); every number behind
them goes to phases.json.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from rnnzoo.boundaries import likelihood_fits
from rnnzoo.family_table import control_families, memory_families
from rnnzoo.phases import PAPER_EXPONENTS, THEORY_EXPONENTS, analyse, reference_control_fit

COLOURS = {  # mechanism -> RGB; a cell's colour is the mix weighted by its fractions
    "failed": (0.80, 0.80, 0.80),
    "unstable": (0.95, 0.70, 0.10),
    "cycle": (0.84, 0.19, 0.15),
    "manifold": (0.13, 0.40, 0.78),
}
NAMES = {"failed": "failed", "unstable": "unstable", "cycle": "limit cycle", "manifold": "slow-point manifold"}


def make_figures(zoo: Any, out_dir: str | os.PathLike, n_boot: int = 1000, seed: int = 0,
                 include_synthetic: bool = False) -> dict:
    """Draw the phase figures of every memory family of `zoo` (a Zoo, its metadata, or a zoo folder) into out_dir.

    Returns {"json": path of phases.json, "figures": {family: {"phase_diagram", "critical_rate",
    "manifold_fraction": path} or, for the no-memory control, {"control": path}}, "results": {family: the numbers
    (rnnzoo.phases.analyse, or reference_control_fit for the control)}}.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if isinstance(zoo, (str, os.PathLike)):
        from rnnzoo.zoo import load

        zoo = load(source=zoo)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    remove_own_leftovers(out)
    families = memory_families(zoo, include_synthetic)
    controls = control_families(zoo, include_synthetic)
    if not families and not controls:
        raise ValueError("this zoo has no trained family to draw phases for (only synthetic networks); generate "
                         "e.g. `python generation/run.py --preset phase-cpu` or `--preset control-cpu`")
    results, figures = {}, {}
    for family in controls:
        res = {"family": family, "protocol": "control", **reference_control_fit(zoo, family, include_synthetic),
               "likelihood": likelihood_fits(zoo, family=family, include_synthetic=include_synthetic)["no_learning"]}
        results[family] = res
        path = out / f"control-{family}.png"
        fig = plot_control(res)
        _save(fig, path)
        plt.close(fig)
        figures[family] = {"control": str(path)}
    for family in families:
        res = analyse(zoo, family, n_boot=n_boot, seed=seed, include_synthetic=include_synthetic)
        results[family] = res
        paths = {"phase_diagram": out / f"phase-diagram-{family}.png",
                 "critical_rate": out / f"critical-rate-{family}.png",
                 "manifold_fraction": out / f"manifold-fraction-{family}.png"}
        for key, draw in (("phase_diagram", plot_phase_diagram), ("critical_rate", plot_critical_rate),
                          ("manifold_fraction", plot_manifold_fraction)):
            fig = draw(res)
            _save(fig, paths[key])
            plt.close(fig)
        figures[family] = {k: str(v) for k, v in paths.items()}
    manifest = getattr(zoo, "manifest", {}) or {}
    source = getattr(getattr(zoo, "source", None), "name", None)
    if source and os.path.isabs(source):  # a local folder is named by itself, never by where it lies on this machine
        source = os.path.basename(os.path.normpath(source))
    numbers = {"source": source, "preset": manifest.get("preset"), "n_boot": n_boot, "seed": seed,
               "figures": {f: {k: Path(v).name for k, v in p.items()} for f, p in figures.items()},
               "families": results}
    from rnnzoo.store import write_json_atomic

    json_path = out / "phases.json"
    write_json_atomic(json_path, numbers)
    return {"json": str(json_path), "figures": figures, "results": results}


FIGURE_PREFIXES = ("phases.json.", "phase-diagram-", "critical-rate-", "manifold-fraction-", "control-")


def remove_own_leftovers(out: Path) -> list[Path]:
    """Delete the temporary files a killed figures run left in `out` ('.NAME.RANDOM.tmp' of the files it writes
    only: a folder of the user's may hold other hidden files)."""
    removed = [p for p in out.glob(".*.tmp") if p.is_file() and not p.is_symlink() and p.name[1:].startswith(FIGURE_PREFIXES)]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def _save(fig, path: Path) -> None:
    from rnnzoo.store import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")


def _cells(res: dict) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Delays, lrs and the fraction arrays [lr, delay] (nan where a cell is empty) of an analysis result."""
    delays, lrs = np.array(res["delays_ms"]), np.array(res["lrs"])
    keys = [f"frac_{m}" for m in COLOURS] + ["frac_learned", "frac_manifold_of_learned", "n"]
    grids = {k: np.full((len(lrs), len(delays)), np.nan) for k in keys}
    for row in res["fractions"]:
        i, j = int(np.argmin(np.abs(np.log(lrs / row["lr"])))), int(np.searchsorted(delays, row["delay_ms"]))
        for k in keys:
            grids[k][i, j] = np.nan if row[k] is None else row[k]
    return delays, lrs, grids


def _edges(values: np.ndarray, log: bool) -> np.ndarray:
    v = np.log10(values) if log else values.astype(float)
    if v.size == 1:
        e = np.array([v[0] - 0.5, v[0] + 0.5]) if log else np.array([v[0] - 10, v[0] + 10])
    else:
        mid = (v[1:] + v[:-1]) / 2
        e = np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])
    return 10**e if log else e


def _overlay_critical(ax, res: dict) -> None:
    crit = res["critical"]
    rates = [r for r in crit["rates"] if r["status"] == "interior"]
    if rates:
        ax.plot([r["delay_ms"] for r in rates], [r["critical_lr"] for r in rates], "k.-", lw=1.5, ms=8,
                label=f"critical lr (half the seeds learn; {crit.get('estimator', 'raw')})")
    fit = crit.get("fit")
    if fit:
        T = np.linspace(max(min(crit["fit_delays_ms"]), 1.0), max(res["delays_ms"]), 100)
        ax.plot(T, fit["prefactor"] * T ** fit["exponent"], "k--", lw=1, label=f"fit T^{fit['exponent']:.2f}")


BOUNDARY_STYLE = {"no_learning": ("s", "C3", "no-learning"), "slow_point": ("D", "C0", "slow-point")}


def paper_slopes(protocol: str) -> dict[str, tuple[float, float]]:
    """The paper's exponents (value, +-) of one protocol's boundaries: {boundary: ...}, e.g. post has only
    no_learning. The figures draw these, never another family's."""
    return {key.split("/")[1]: (v[0], v[1]) for key, v in PAPER_EXPONENTS.items() if key.split("/")[0] == protocol}


def _overlay_boundaries(ax, res: dict) -> None:
    """Both estimators of each boundary: the reference's onsets x0 per lr and its log-log line (open markers,
    dashed), the likelihood fit's per-delay critical rates and its power law (filled markers, solid), and the
    paper's exponent for this family's protocol drawn through the likelihood fit (dotted)."""
    protocol = res.get("protocol", "nopost")
    paper = paper_slopes(protocol)
    for name, (marker, colour, words) in BOUNDARY_STYLE.items():
        ref = (res.get("reference_fits") or {}).get(name) or {}
        used = [r for r in ref.get("per_lr", []) if r.get("converged") and r["x0_ms"] > 0 and not r.get("dropped")]
        if used:
            x0 = np.array([r["x0_ms"] for r in used])
            label = f"reference ({protocol} script): {words} onset x0 per lr"
            rfit = ref.get("fit")
            if rfit:
                label += f", T^({rfit['exponent']:.2f} ± {_fmt(rfit['stderr'])})"
                T = np.geomspace(x0.min(), x0.max(), 50)
                ax.plot(T, rfit["prefactor"] * T ** rfit["exponent"], "--", color=colour, lw=1)
            ax.plot(x0, [r["lr"] for r in used], marker, color=colour, mfc="none", ls="none", label=label)
        ml = (res.get("likelihood_fits") or {}).get(name) or {}
        if ml.get("exponent") is None:
            continue
        points = [r for r in ml.get("per_delay", []) if r["status"] == "interior"]
        if points:
            T = np.array([r["delay_ms"] for r in points])
            y = np.array([r["critical_lr"] for r in points])
            lo = np.array([_finite(r["lo"], y_i) for r, y_i in zip(points, y)])
            hi = np.array([_finite(r["hi"], y_i) for r, y_i in zip(points, y)])
            ax.errorbar(T, y, yerr=[np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)], fmt=marker, color=colour,
                        ms=4, capsize=2, lw=0.8, label=f"likelihood: {words} critical lr per delay")
        # the line spans the delays whose critical rate lies inside the sampled rates (all delays if none does)
        delays = [r["delay_ms"] for r in points] or [r["delay_ms"] for r in ml.get("per_delay", [])]
        delays = [d for d in delays if d > 0]
        if not delays:
            continue
        T = np.geomspace(min(delays), max(delays), 100)
        ax.plot(T, ml["prefactor"] * T ** ml["exponent"], "-", color=colour, lw=1.8,
                label=f"likelihood: {words} boundary T^({ml['exponent']:.2f} ± {_fmt(ml['stderr'])}), "
                      f"{ml['level']:.0%} {ml['interval']} CI [{_fmt(ml['lo'])}, {_fmt(ml['hi'])}]")
        if name in paper:
            p, pm = paper[name]
            centre_T = float(np.exp(np.mean(np.log(T))))
            centre_y = ml["prefactor"] * centre_T ** ml["exponent"]
            ax.plot(T, centre_y * (T / centre_T) ** p, ":", color=colour, lw=2,
                    label=f"paper, {protocol} {words} boundary: T^({p:g} ± {pm:g})")


def _overlay_likelihood_boundaries(ax, res: dict, delay_edges: np.ndarray) -> None:
    """The likelihood fits' power laws lr_c(T) over the phase diagram (rnnzoo.boundaries), each boundary in its
    colour, across the delays drawn (T > 0)."""
    T = np.linspace(max(delay_edges[0], 1.0), delay_edges[-1], 200)
    T = T[T > 0]
    for name, (_, colour, words) in BOUNDARY_STYLE.items():
        ml = (res.get("likelihood_fits") or {}).get(name) or {}
        if ml.get("exponent") is None or not T.size:
            continue
        ax.plot(T, ml["prefactor"] * T ** ml["exponent"], "-", color=colour, lw=2.2,
                label=f"likelihood {words} boundary T^({ml['exponent']:.2f} ± {_fmt(ml['stderr'])})")


def plot_phase_diagram(res: dict):
    """Delay x learning rate, each cell coloured by its mix of mechanisms, the critical rate drawn over it; beside
    it one panel per mechanism fraction."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import NullFormatter

    delays, lrs, g = _cells(res)
    xe, ye = _edges(delays, log=False), _edges(lrs, log=True)
    mix = np.zeros((len(lrs), len(delays), 3))
    for m, colour in COLOURS.items():
        mix += np.nan_to_num(g[f"frac_{m}"])[..., None] * np.array(colour)
    mix[np.isnan(g["n"])] = 1.0
    fig = plt.figure(figsize=(14, 6.2))
    grid = fig.add_gridspec(2, 4, width_ratios=[1.2, 1.2, 1, 1], wspace=0.35, hspace=0.45)
    ax = fig.add_subplot(grid[:, :2])
    ax.pcolormesh(xe, ye, mix, shading="flat")
    _overlay_critical(ax, res)
    _overlay_likelihood_boundaries(ax, res, xe)
    counts = g["n"][np.isfinite(g["n"])]
    irregular = counts.size and counts.min() != counts.max()
    if irregular:  # an adaptive zoo: each cell's seed count, so the eye can weigh its colour
        for i, j in zip(*np.nonzero(np.isfinite(g["n"]))):
            ax.text(delays[j], lrs[i], f"{int(g['n'][i, j])}", ha="center", va="center", fontsize=6, color="0.15")
    per_cell = (f"{int(counts.min())}-{int(counts.max())} seeds per sampled cell, white: none" if irregular
                else f"{res['n_seeds']} seeds/cell")
    ax.set(yscale="log", xlabel="delay T (ms)", ylabel="learning rate", ylim=(ye[0], ye[-1]), xlim=(xe[0], xe[-1]),
           title=f"{res['family']}: mechanism mix per cell ({res['n_networks']} networks, {per_cell})")
    handles = [Patch(color=c, label=NAMES[m]) for m, c in COLOURS.items()]
    line_handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=handles + line_handles, loc="lower left", fontsize=8, framealpha=0.9)
    for k, m in enumerate(COLOURS):
        sub = fig.add_subplot(grid[k // 2, 2 + k % 2])
        im = sub.pcolormesh(xe, ye, np.ma.masked_invalid(g[f"frac_{m}"]), vmin=0, vmax=1, cmap="viridis")
        sub.set(yscale="log", title=f"fraction {NAMES[m]}", xlabel="delay (ms)")
        sub.yaxis.set_minor_formatter(NullFormatter())  # decade labels only: the minor ones overlap
        if k % 2:
            sub.tick_params(labelleft=False)
        sub.title.set_fontsize(9)
        fig.colorbar(im, ax=sub, fraction=0.05)
    return fig


def plot_critical_rate(res: dict):
    """Critical learning rate against the delay on log-log axes with its power-law fit, and each boundary by both
    estimators (the reference's, with this family's protocol settings, and the likelihood fit) with the paper's
    exponent for this family's protocol (never another family's) and the theory's drawn beside them."""
    import matplotlib.pyplot as plt

    crit = res["critical"]
    lrs = np.array(res["lrs"])
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    interior = [r for r in crit["rates"] if r["status"] == "interior" and r["delay_ms"] > 0]
    if interior:
        T = np.array([r["delay_ms"] for r in interior])
        y = np.array([r["critical_lr"] for r in interior])
        lo = np.array([_finite(r["lo"], lrs.min() / 2) for r in interior])
        hi = np.array([_finite(r["hi"], lrs.max() * 2) for r in interior])
        ax.errorbar(T, y, yerr=[np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)], fmt="ko", capsize=3,
                    label=f"critical lr, {crit.get('estimator', 'raw')} estimator (95% bootstrap over seeds)")
    raw = res.get("critical_raw")
    if raw is not None and crit.get("estimator") != "raw":
        points = [r for r in raw["rates"] if r["status"] == "interior" and r["delay_ms"] > 0]
        if points:
            raw_fit = raw.get("fit")
            label = "critical lr from the raw cell fractions" + (f" (T^{raw_fit['exponent']:.2f})" if raw_fit else "")
            ax.plot([r["delay_ms"] for r in points], [r["critical_lr"] for r in points], "x", color="0.55", ms=7,
                    label=label)
    for status, marker, value, text in (("above", "^", lrs.max(), "learned at every rate (lower bound)"),
                                        ("below", "v", lrs.min(), "learned at no rate (upper bound)")):
        cens = [r for r in crit["rates"] if r["status"] == status and r["delay_ms"] > 0]
        if cens:
            ax.plot([r["delay_ms"] for r in cens], [value] * len(cens), marker, color="0.4", mfc="none", ms=9,
                    ls="none", label=text)
    fit = crit.get("fit")
    if fit:
        T = np.geomspace(min(crit["fit_delays_ms"]), max(crit["fit_delays_ms"]), 100)
        ci = f" [{_fmt(fit['lo'])}, {_fmt(fit['hi'])}]" if fit.get("lo") is not None else ""
        ax.plot(T, fit["prefactor"] * T ** fit["exponent"], "k-", lw=2,
                label=f"fit: T^({fit['exponent']:.2f} ± {_fmt(fit['stderr'])}), 95% CI{ci}, R²={_fmt(fit['r2'])}")
        centre_T = float(np.exp(np.mean(np.log(crit["fit_delays_ms"]))))
        centre_y = fit["prefactor"] * centre_T ** fit["exponent"]
        for p, colour, name in ((THEORY_EXPONENTS["cycle"], "C1", "theory, limit cycle"),
                                (THEORY_EXPONENTS["slow_point"], "C0", "theory, slow point")):
            ax.plot(T, centre_y * (T / centre_T) ** p, ls=(0, (1, 3)), color=colour, lw=1,
                    label=f"{name}: T^{p:g}")
    else:
        import textwrap

        ax.text(0.03, 0.97, textwrap.fill("no power-law fit: " + crit.get("reason", ""), 80), transform=ax.transAxes,
                fontsize=8, va="top")
    _overlay_boundaries(ax, res)
    ax.set(xscale="log", yscale="log", xlabel="delay T (ms)", ylabel="learning rate",
           ylim=(lrs.min() / 3, lrs.max() * 3), title=f"{res['family']}: critical learning rate against the delay")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    ax.grid(True, which="both", alpha=0.2)
    return fig


def plot_control(res: dict):
    """The no-memory control as the reference analyses it (FigureS6): left, the not-learned fraction against the
    learning rate per response length with its fitted logistic; right, the critical rate lr_c = exp(x0) against the
    response length on log-log axes with the reference's power-law fit, the likelihood fit (res["likelihood"],
    rnnzoo.boundaries) beside it, and the paper's T^(-0.38 +- 0.02) through the reference fit's centre."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    lengths = res["per_length"]
    colours = plt.cm.viridis(np.linspace(0, 1, max(1, len(lengths))))
    for entry, colour in zip(lengths, colours):
        lrs = np.asarray(entry["lrs"])
        left.plot(lrs, entry["not_learned"], "o", color=colour, ms=4, label=f"{entry['response_ms']:g} ms")
        if entry.get("x0") is not None and entry.get("k") is not None:
            x = np.geomspace(lrs.min(), lrs.max(), 200)
            z = np.clip(entry["k"] * (np.log(x) - entry["x0"]), -50, 50)
            left.plot(x, 1 / (1 + np.exp(z)), "-", color=colour, lw=1)
    left.set(xscale="log", xlabel="learning rate", ylabel="not-learned fraction", ylim=(-0.05, 1.05),
             title=f"{res['family']}: not learned against lr, per response length")
    if lengths:
        left.legend(fontsize=7, ncol=2, title="response", title_fontsize=7)
    used = [e for e in lengths if e["converged"]]
    if used:
        right.plot([e["response_ms"] for e in used], [e["lr_c"] for e in used], "ko", mfc="none",
                   label="reference: critical lr exp(x0) per length")
    ml = res.get("likelihood") or {}
    if ml.get("exponent") is not None:
        points = [r for r in ml["per_delay"] if r["status"] == "interior"]
        if points:
            T = np.array([r["delay_ms"] for r in points])
            y = np.array([r["critical_lr"] for r in points])
            err = [np.clip(y - np.array([_finite(r["lo"], v) for r, v in zip(points, y)]), 0, None),
                   np.clip(np.array([_finite(r["hi"], v) for r, v in zip(points, y)]) - y, 0, None)]
            right.errorbar(T, y, yerr=err, fmt="s", color="C3", ms=4, capsize=2, lw=0.8,
                           label="likelihood: critical lr per length")
        lengths_ms = [r["delay_ms"] for r in ml["per_delay"]]
        T = np.geomspace(min(lengths_ms), max(lengths_ms), 100)
        right.plot(T, ml["prefactor"] * T ** ml["exponent"], "-", color="C3", lw=1.8,
                   label=f"likelihood: T^({ml['exponent']:.2f} ± {_fmt(ml['stderr'])}), {ml['level']:.0%} "
                         f"{ml['interval']} CI [{_fmt(ml['lo'])}, {_fmt(ml['hi'])}]")
    fit = res.get("fit")
    paper_exponent, paper_pm = res["paper"]["exponent"], res["paper"]["pm"]
    if fit:
        T = np.geomspace(min(e["response_ms"] for e in used), max(e["response_ms"] for e in used), 100)
        right.plot(T, fit["prefactor"] * T ** fit["exponent"], "k--", lw=1.5,
                   label=f"reference fit: T^({fit['exponent']:.2f} ± {_fmt(fit['stderr'])}), R²={_fmt(fit['r2'])}")
        centre_T = float(np.exp(np.mean(np.log(T))))
        centre_y = fit["prefactor"] * centre_T ** fit["exponent"]
        right.plot(T, centre_y * (T / centre_T) ** paper_exponent, ":", color="C3", lw=1.5,
                   label=f"paper: T^({paper_exponent:g} ± {paper_pm:g})")
    else:
        right.text(0.03, 0.97, f"no power-law fit ({len(used)} converged lengths; 3 needed); paper: "
                   f"T^({paper_exponent:g} ± {paper_pm:g})", transform=right.transAxes, fontsize=8, va="top")
    right.set(xscale="log", yscale="log", xlabel="response length T (ms)", ylabel="critical learning rate",
              title=f"{res['family']}: critical lr against the response length")
    if right.get_legend_handles_labels()[0]:
        right.legend(fontsize=8, loc="lower left")
    right.grid(True, which="both", alpha=0.2)
    fig.tight_layout()
    return fig


def plot_manifold_fraction(res: dict):
    """Left: manifold share among learned networks against the delay per lr, with 1 / (1 + T / a). Right: every
    learning rate pooled, the fraction of each mechanism against the delay."""
    import matplotlib.pyplot as plt

    delays, lrs, g = _cells(res)
    fits = {round(np.log10(f["lr"]), 3): f for f in res["manifold_fits"]}
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5))
    cmap = plt.get_cmap("plasma")
    T = np.linspace(0, delays.max() if delays.size else 1, 200)
    for i, lr in enumerate(lrs):
        colour = cmap(i / max(len(lrs) - 1, 1) * 0.8)
        share = g["frac_manifold_of_learned"][i]
        ok = np.isfinite(share)
        if not ok.any():
            continue
        fit = fits.get(round(np.log10(lr), 3))
        label = f"lr {lr:.3g}" + (f": a = {fit['a_ms']:.0f} ms" if fit and fit["a_ms"] is not None else "")
        ax.plot(delays[ok], share[ok], "o", color=colour, label=label)
        if fit and fit["a_ms"] is not None:
            ax.plot(T, 1 / (1 + T / fit["a_ms"]), "-", color=colour, lw=1)
    ax.set(xlabel="delay T (ms)", ylabel="manifold share of learned networks", ylim=(-0.03, 1.03),
           title=f"{res['family']}: slow-point manifolds vs delay, fits 1/(1+T/a)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7.5)
    counts = np.nan_to_num(g["n"])
    pooled = {m: np.nansum(np.nan_to_num(g[f"frac_{m}"]) * counts, axis=0) / np.maximum(counts.sum(axis=0), 1)
              for m in COLOURS}
    ax2.stackplot(delays, *[pooled[m] for m in COLOURS], colors=list(COLOURS.values()),
                  labels=[NAMES[m] for m in COLOURS])
    ax2.set(xlabel="delay T (ms)", ylabel="fraction of networks", ylim=(0, 1),
            xlim=(delays.min(), delays.max()) if delays.size > 1 else (delays[0] - 10, delays[0] + 10),
            title="all learning rates pooled")
    ax2.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def _finite(v: Any, default: float) -> float:
    if v is None or isinstance(v, str):
        return default
    return float(v) if np.isfinite(v) and v > 0 else default


def _fmt(v: Any) -> str:
    return "nan" if v is None else (v if isinstance(v, str) else f"{v:.2f}")
