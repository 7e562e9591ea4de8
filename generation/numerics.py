"""Pinned CPU numerics: a network trained on any x86-64 CPU with AVX2 has the same bits, whatever its vendor or
widest vector unit.

ATen (torch's CPU kernels) and MKL (its BLAS) each choose a code path from the CPU they find, and the paths round
differently: one ulp in a matmul becomes ~1e-7 in a weight after a step, and training is chaotic enough to turn that
into another network (a cycle of period 63.5 steps instead of 54.7). Generation therefore fixes every path:

- ATEN_CPU_CAPABILITY=avx2: elementwise kernels, reductions and the random normals use the AVX2 build of ATen;
- MKL_CBWR=AVX2,STRICT: MKL's conditional bitwise reproducibility on its AVX2 branch, on Intel and AMD alike, with
  results independent of the thread count;
- ONEDNN_MAX_CPU_ISA=AVX2: oneDNN, should any op route through it, stops at AVX2 too.

All three are read once, when torch and its libraries start, so they must be in the environment before
`import torch`: `pin_cpu_numerics()` puts them there (generation/run.py calls it before importing torch; workers and
Ray tasks inherit them), and `check_cpu_numerics()` refuses to train when they did not take effect. This module
must not import torch at module level.
"""

from __future__ import annotations

import os
import platform
import sys

PINNED_ENV: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "AVX2,STRICT",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}
"""The settings that make generation's bits independent of the CPU (recorded in every zoo's generation config)."""

OPT_OUT = "RNNZOO_UNPINNED_NUMERICS"
"""Set to 1 to train with the CPU's own fastest paths (benchmarks only: the bits then depend on the machine)."""


class NumericsError(RuntimeError):
    """Generation would train with CPU-dependent numerics: the message says how to start it so it does not."""


def cpu_has_avx2() -> bool:
    """Whether this CPU runs AVX2 code (x86-64 only; /proc/cpuinfo where it exists, else assume so on x86-64)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return "avx2" in line.split()
    except OSError:
        pass
    return True


def pinning_applies() -> bool:
    """Pins are used on x86-64 CPUs with AVX2, unless the run opted out ($RNNZOO_UNPINNED_NUMERICS=1)."""
    return os.environ.get(OPT_OUT) != "1" and cpu_has_avx2()


def pin_cpu_numerics(strict: bool = True) -> dict[str, str]:
    """Put PINNED_ENV into os.environ (before torch starts), and return what is in force.

    Raises NumericsError when torch is already imported with other settings (they can no longer take effect);
    strict=False leaves the environment alone then and returns {}, so that importing generation code late is
    harmless: `check_cpu_numerics()` refuses the training itself."""
    if not pinning_applies():
        return {}
    conflicting = {k: os.environ.get(k) for k, v in PINNED_ENV.items() if os.environ.get(k) not in (None, v)}
    if conflicting:
        raise NumericsError(
            f"the environment sets {conflicting}, which would make the trained bits depend on this CPU; unset them "
            f"(generation pins {PINNED_ENV}), or set {OPT_OUT}=1 to train unpinned on purpose")
    missing = [k for k in PINNED_ENV if k not in os.environ]
    if missing and "torch" in sys.modules:
        if not strict:
            return {}
        raise NumericsError(
            "torch was imported before generation pinned its CPU numerics, so ATen and MKL already chose this CPU's "
            "code paths; import generation (or call generation.numerics.pin_cpu_numerics()) before torch, or start "
            f"the process with {' '.join(f'{k}={v}' for k, v in PINNED_ENV.items())}")
    os.environ.update(PINNED_ENV)
    return dict(PINNED_ENV)


def check_cpu_numerics() -> None:
    """Refuse to train unpinned where pinning applies: the environment and ATen's chosen kernels must match."""
    if not pinning_applies():
        return
    wrong = {k: os.environ.get(k) for k, v in PINNED_ENV.items() if os.environ.get(k) != v}
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    if wrong or capability != "AVX2":
        raise NumericsError(
            f"this process trains with CPU-dependent numerics (environment {wrong or 'pinned'}, ATen kernels "
            f"{capability}); start it through generation/run.py, or set {' '.join(f'{k}={v}' for k, v in PINNED_ENV.items())} "
            f"before Python starts (or {OPT_OUT}=1 to opt out on purpose)")


def numerics_config() -> dict:
    """What the manifest records about the numerics a zoo was trained with."""
    if pinning_applies():
        return {"cpu": "pinned", "env": dict(PINNED_ENV),
                "bit_identical": "on any x86-64 CPU with AVX2, for the torch version in code_versions"}
    reason = "opted out" if os.environ.get(OPT_OUT) == "1" else f"no AVX2 ({platform.machine()})"
    return {"cpu": f"unpinned: {reason}", "env": {}, "bit_identical": "on CPUs of this kind only"}
