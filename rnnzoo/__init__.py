"""rnnzoo: a queryable, lazily downloadable, pickle-free zoo of trained RNNs for short-term-memory research."""

__version__ = "0.1.0"

from rnnzoo.dynamics import Weights, simulate
from rnnzoo.labels import MECHANISMS, canonical_mechanism
from rnnzoo.query import QueryError
from rnnzoo.store import ChecksumError, ZooFormatError
from rnnzoo.task import Task
from rnnzoo.zoo import Network, Zoo, load

__all__ = ["Network", "Zoo", "load", "Task", "Weights", "simulate", "MECHANISMS", "canonical_mechanism",
           "QueryError", "ZooFormatError", "ChecksumError", "__version__"]
