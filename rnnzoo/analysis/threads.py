"""Run small batched LAPACK calls (SVD, eigh, eigvals of ~100 x 100 matrices) on one thread.

Batched decompositions of small matrices gain nothing from torch's intra-op threads, and on a loaded CPU the
threads' barriers made them 10-20x slower (measured: 124 ms vs 7 ms per 216 x 100 SVD with 2 threads vs 1 on this
2-core machine under load). Results do not depend on the thread count.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def one_thread() -> Iterator[None]:
    """Limit torch to one intra-op thread inside the block (CPU only; CUDA work is unaffected)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
