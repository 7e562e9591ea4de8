"""plot_mechanism: the evidence for one network's label on one figure (matplotlib, Agg-safe)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from rnnzoo.labels import LABEL_DRAWS, PAPER_CUE, PSD_RADIUS, paper_psd_run


def plot_mechanism(net: Any, path: str | os.PathLike | None = None, **classify_kwargs: Any):
    """Draw a network's extended run in its top two principal components (with the slow points found), its outputs
    and speed over time, and the reference's time-by-time correlation matrix and 2-D power with the PSD radius.

    net: a rnnzoo.Network (from a zoo or Network.from_weights). Saves to `path` when given; returns the Figure.
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from rnnzoo.analysis.classify import classify

    if not (hasattr(net, "task_groups") and hasattr(net, "task") and hasattr(net, "info")):  # one Network
        raise TypeError(f"plot_mechanism draws one rnnzoo.Network, got {type(net).__name__}; for a Zoo pick one: zoo[0]")
    frame, evidence = classify(net, details=True, progress=False, **classify_kwargs)
    row, ev = frame.iloc[0], evidence[0]
    task = net.task()
    L = task.n_steps
    # The paper's extended run (its trial: cue on input 1, states after each update), on which its PSD label rests.
    outputs, rates = paper_psd_run(net.weights, task, float(net.info["alpha"]), [int(net.info["seed"])])
    # One draw of it, on its exact top two principal axes (each axis's largest loading positive, for display: the
    # label itself is the modal one over LABEL_DRAWS draws of the randomised PCA's axes, rnnzoo.labels).
    x = rates.to(torch.float64)[0]
    _, _, vh = torch.linalg.svd(x - x.mean(0, keepdim=True), full_matrices=False)
    axes2 = vh[:2]
    pivot = axes2.abs().argmax(-1, keepdim=True)
    axes2 = axes2 * torch.sign(torch.gather(axes2, -1, pivot))
    proj = (x @ axes2.T).numpy()  # the reference's (uncentred) projection
    slow = torch.as_tensor(ev.slow_points, dtype=torch.float64) @ axes2.T if len(ev.slow_points) else None
    centred = proj - proj.mean(-1, keepdims=True)
    unit = centred / np.where(np.linalg.norm(centred, axis=-1, keepdims=True) > 0,
                              np.linalg.norm(centred, axis=-1, keepdims=True), 1)
    corr = unit @ unit.T
    power = np.abs(np.fft.fftshift(np.fft.fft2(corr))) ** 2
    T = corr.shape[0]

    fig, ax = plt.subplots(2, 3, figsize=(14, 8.2))
    a = ax[0, 0]
    sc = a.scatter(proj[:, 0], proj[:, 1], c=np.arange(T), s=6, cmap="viridis")
    a.plot(proj[:, 0], proj[:, 1], lw=0.4, color="0.6", zorder=0)
    if slow is not None:
        s = slow.numpy()
        fast = ev.slow_speeds >= 1e-3
        if (~fast).any():
            a.scatter(s[~fast, 0], s[~fast, 1], marker="x", s=60, color="red", label="slow / fixed point")
        if fast.any():
            a.scatter(s[fast, 0], s[fast, 1], marker="+", s=60, color="orange", label="speed minimum (not slow)")
        a.legend(fontsize=8, loc="best")
    fig.colorbar(sc, ax=a, label="time step")
    a.set(title="extended run (cue, then silence) in PC1-PC2", xlabel="PC1", ylabel="PC2")

    a = ax[0, 1]
    o = outputs[0].numpy()
    for c in range(o.shape[1]):
        a.plot(o[:, c], lw=1, label=f"output {c}")
    w = task.reaction_window
    a.axvspan(w.start, w.stop, color="green", alpha=0.15, label="reaction window")
    for k in range(1, T // L):
        a.axvline(k * L, color="0.85", lw=0.5)
    a.set(title=f"outputs (the paper's trial, cue {PAPER_CUE}), trial length marked", xlabel="time step",
          ylim=(-0.02, 1.02))
    a.legend(fontsize=8)

    a = ax[0, 2]
    a.semilogy(np.maximum(ev.speed_profile, 1e-12), lw=1)
    a.axvspan(ev.delay.start, ev.delay.stop, color="orange", alpha=0.2, label="delay")
    a.axhline(1e-3, color="red", lw=0.6, ls="--", label="slow-point speed")
    a.set(title="speed ||F(x)-x|| along the noiseless run", xlabel="time step")
    a.legend(fontsize=8)

    a = ax[1, 0]
    a.imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1)
    a.set(title="time-by-time correlation of the top-2 projection", xlabel="time step", ylabel="time step")

    a = ax[1, 1]
    im = a.imshow(np.log10(power + 1e-12), cmap="magma")
    a.add_patch(plt.Circle((T // 2, T // 2), PSD_RADIUS, fill=False, color="cyan", lw=1.5))
    half = min(T // 2, 30)
    a.set_xlim(T // 2 - half, T // 2 + half)
    a.set_ylim(T // 2 + half, T // 2 - half)
    fig.colorbar(im, ax=a, label="log10 power")
    a.set(title=f"2-D power of one run, radius {PSD_RADIUS} (cyan)\n"
                f"median PSD ratio over the draws {row['psd_ratio']:.3f}")

    a = ax[1, 2]
    a.axis("off")
    lines = [f"dynamics label: {row['dynamics_label']}   (regime: {row['regime']})",
             f"paper's test (PSD < 0.5 = cycle): {row['psd_label']} in {row['psd_share']:.0%} of {LABEL_DRAWS} draws",
             f"output fluctuation: {row['fluctuation']:.3g} ({row['fluctuation_label']})",
             f"period: {row['period_steps']:.2f} steps = {row['period_ratio']:.2f} x (delay + reaction)"
             if np.isfinite(row["period_steps"]) else "period: none (no return)",
             f"amplitude (RMS radius): {row['amplitude']:.3g}" if np.isfinite(row["amplitude"]) else "",
             f"distinct slow points: {row['n_slow_points']}  fixed: {row['n_fixed_points']}",
             f"slowest speed: {row['slowest_speed']:.2e}",
             f"|leading eigenvalue| at the end: {row['final_eigenvalue']:.3f}" if np.isfinite(row["final_eigenvalue"]) else "",
             f"delay speed: min {row['delay_min_speed']:.2e}, mean {row['delay_mean_speed']:.2e}"]
    a.text(0.0, 1.0, "\n".join(l for l in lines if l), va="top", family="monospace", fontsize=9)
    name = str(net.info.get("id", "network"))
    fig.suptitle(f"{name}: delay {task.delay_ms:g} ms, {row['mechanism']} (dynamics: {row['dynamics_label']})",
                 fontsize=12)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
