"""Mechanism analysis: labels with their evidence (cycles, slow and fixed points) and the plot that shows them."""

from rnnzoo.analysis.classify import NetworkDynamics, classify, diagnose
from rnnzoo.analysis.cycles import CycleFit, fit_cycles
from rnnzoo.analysis.fixed_points import SlowPoints, find_slow_points


def plot_mechanism(net, **kwargs):
    """Draw a network's extended run, outputs and PSD evidence (see rnnzoo.analysis.plots.plot_mechanism)."""
    from rnnzoo.analysis.plots import plot_mechanism as _plot

    return _plot(net, **kwargs)


__all__ = ["classify", "diagnose", "plot_mechanism", "NetworkDynamics", "CycleFit", "fit_cycles", "SlowPoints",
           "find_slow_points"]
