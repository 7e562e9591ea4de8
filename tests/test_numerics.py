"""Pinned CPU numerics: a network's bits do not depend on which AVX2-or-wider code path the CPU offers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from generation.numerics import OPT_OUT, PINNED_ENV, NumericsError, check_cpu_numerics, cpu_has_avx2

REPO = Path(__file__).resolve().parent.parent
AVX2_ONLY = {"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
TRAIN = r"""
import hashlib, sys
sys.path.insert(0, {repo!r})
from generation.numerics import pin_cpu_numerics
pin_cpu_numerics()
import torch
from generation.train import train_population
from rnnzoo.task import Task
r = train_population([0, 1], [0.316, 0.1], [25, 25], Task(delay_ms=50), 0.5)
print(torch.backends.cpu.get_cpu_capability(), hashlib.sha256(b"".join(t.numpy().tobytes() for t in r.weights)).hexdigest())
"""


def train_in_child(extra_env: dict[str, str]) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PINNED_ENV and k not in AVX2_ONLY and k != OPT_OUT}
    env.update(extra_env)
    done = subprocess.run([sys.executable, "-c", TRAIN.format(repo=str(REPO))], env=env, capture_output=True,
                          text=True, check=True)
    capability, digest = done.stdout.split()[-2:]
    return capability, digest


@pytest.mark.skipif(not cpu_has_avx2(), reason="pinned numerics apply to x86-64 CPUs with AVX2")
def test_pinned_training_gives_the_same_bits_as_an_avx2_only_machine():
    """The pins on this CPU as it is versus the same pins with MKL and oneDNN capped at AVX2 (what an AVX2-only
    machine offers): the same sha256. Unpinned, this CPU picks its own paths (printed, not asserted: on some CPUs
    they coincide with AVX2)."""
    pinned = train_in_child({})
    capped = train_in_child(AVX2_ONLY)
    unpinned = train_in_child({OPT_OUT: "1"})
    print(f"pinned {pinned}, capped {capped}, unpinned {unpinned}")
    assert pinned[0] == "AVX2" and capped[0] == "AVX2"
    assert pinned[1] == capped[1]


def test_unpinned_training_is_refused(monkeypatch):
    if not cpu_has_avx2():
        pytest.skip("pinned numerics apply to x86-64 CPUs with AVX2")
    check_cpu_numerics()  # this test process was pinned by conftest before torch started
    monkeypatch.setenv("MKL_CBWR", "AUTO")
    with pytest.raises(NumericsError, match="CPU-dependent numerics.*generation/run.py"):
        check_cpu_numerics()


def test_the_generation_config_records_the_pins(quick_zoo):
    generation = json.loads((quick_zoo / "manifest.json").read_text())["generation"]
    if cpu_has_avx2():
        assert generation["numerics"]["cpu"] == "pinned" and generation["numerics"]["env"] == PINNED_ENV
    assert generation["checkpoint_factor"] == 8
