"""rnnzoo: a queryable, lazily downloadable, pickle-free zoo of trained RNNs for short-term-memory research."""

__version__ = "0.1.0"

from rnnzoo.devices import DeviceUnavailable
from rnnzoo.dynamics import Weights, simulate
from rnnzoo.labels import MECHANISMS, canonical_mechanism
from rnnzoo.query import QueryError
from rnnzoo.store import ChecksumError, ZooFormatError
from rnnzoo.task import Task
from rnnzoo.zoo import Network, Zoo, load, refit

# Functions whose modules are heavier (analysis, plots, figures) are imported on first use.
_LAZY = {
    "classify": "rnnzoo.analysis",
    "plot_mechanism": "rnnzoo.analysis",
    "make_figures": "rnnzoo.figures",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rnnzoo' has no attribute {name!r}")


__all__ = ["Network", "Zoo", "load", "refit", "Task", "Weights", "simulate", "MECHANISMS", "canonical_mechanism",
           "QueryError", "ZooFormatError", "ChecksumError", "DeviceUnavailable", "__version__"]
