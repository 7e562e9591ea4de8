"""Shared fixtures: small zoos generated for real by generation/run.py, once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may download at test time
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from generation.numerics import pin_cpu_numerics  # noqa: E402

pin_cpu_numerics()  # before torch starts, as generation/run.py does: in-process training gives the zoo's bits

from generation.run import main as generate  # noqa: E402

QUICK_STEPS = 120  # enough to exercise every code path; too few for networks to learn


@pytest.fixture(scope="session")
def quick_zoo(tmp_path_factory) -> Path:
    """The tiny preset's 12 networks trained for QUICK_STEPS steps: real files in the real layout (~15 s)."""
    root = tmp_path_factory.mktemp("zoo") / "tiny-quick"
    assert generate(["--preset", "tiny", "--out", str(root), "--max-steps", str(QUICK_STEPS), "--device", "cpu"]) == 0
    return root
