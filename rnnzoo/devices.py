"""Devices: check that a torch device exists here before anything is placed on it.

torch accepts torch.device("cuda") on a machine without CUDA and fails only later, deep inside the first tensor
copy, with an AssertionError about its build. rnnzoo checks when the device is chosen, so the error names the
device and the fix.
"""

from __future__ import annotations

import torch


class DeviceUnavailable(RuntimeError):
    """The requested torch device does not exist on this machine (no CUDA, no such GPU index, no MPS)."""


def checked_device(device: str | torch.device) -> torch.device:
    """`device` as a torch.device, or DeviceUnavailable when this machine has no such device."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DeviceUnavailable(f"{device!r} is not a torch device name; use 'cpu', 'cuda', 'cuda:0' or 'mps'") from exc
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DeviceUnavailable(
                f"device {str(dev)!r} was asked for but no CUDA GPU is visible here (torch {torch.__version__}, "
                f"CUDA build: {torch.version.cuda or 'none'}); use 'cpu', or install a CUDA build of torch on a "
                "machine with a GPU")
        if dev.index is not None and dev.index >= count:
            raise DeviceUnavailable(f"device {str(dev)!r} does not exist: this machine has {count} CUDA GPU(s), "
                                    f"cuda:0 to cuda:{count - 1}")
    elif dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise DeviceUnavailable(f"device {str(dev)!r} was asked for but Apple's MPS is not available here; use 'cpu'")
    return dev
