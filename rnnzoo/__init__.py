"""rnnzoo: a queryable, lazily downloadable, pickle-free zoo of trained RNNs for short-term-memory research."""

__version__ = "0.1.0"

# Every public name is imported on first use, so `import rnnzoo` (and `rnnzoo --version`) starts without torch.
_LAZY = {
    "DeviceUnavailable": "rnnzoo.devices",
    "Weights": "rnnzoo.dynamics",
    "simulate": "rnnzoo.dynamics",
    "MECHANISMS": "rnnzoo.labels",
    "canonical_mechanism": "rnnzoo.labels",
    "QueryError": "rnnzoo.query",
    "ChecksumError": "rnnzoo.store",
    "ZooFormatError": "rnnzoo.store",
    "Task": "rnnzoo.task",
    "Network": "rnnzoo.zoo",
    "Zoo": "rnnzoo.zoo",
    "load": "rnnzoo.zoo",
    "refit": "rnnzoo.zoo",
    "classify": "rnnzoo.analysis",
    "plot_mechanism": "rnnzoo.analysis",
    "make_figures": "rnnzoo.figures",
}


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if not name.startswith("__"):
        try:  # a submodule, e.g. rnnzoo.store after a plain `import rnnzoo`
            return importlib.import_module(f"rnnzoo.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"rnnzoo.{name}":
                raise
    raise AttributeError(f"module 'rnnzoo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["Network", "Zoo", "load", "refit", "Task", "Weights", "simulate", "MECHANISMS", "canonical_mechanism",
           "QueryError", "ZooFormatError", "ChecksumError", "DeviceUnavailable", "__version__"]
