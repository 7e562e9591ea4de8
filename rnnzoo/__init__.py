"""rnnzoo: a queryable, lazily downloadable, pickle-free zoo of trained RNNs for short-term-memory research."""

__version__ = "0.1.0"
