"""Devices and mixed precision, shared by training and inference."""

from __future__ import annotations

import contextlib
from typing import get_args

import torch

from volseg._options import DeviceChoice
from volseg.errors import ConfigError
from volseg.tiling import Device

__all__ = ["autocast", "resolve_device"]


def resolve_device(device: DeviceChoice | str | torch.device) -> torch.device:
    """A ``torch.device`` for ``"auto"`` (CUDA when available, else CPU), ``"cpu"``,
    ``"cuda"`` or ``"cuda:N"``.

    Raises
    ------
    ConfigError
        An unknown device, or CUDA asked for where none is available.
    """
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(
            f"unknown device {device!r}: {exc}; use one of {get_args(DeviceChoice)}"
        ) from None
    if dev.type not in get_args(Device):
        raise ConfigError(f"device must be one of {get_args(DeviceChoice)}, got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for but CUDA is not available; use 'cpu'")
    return dev


def autocast(device: torch.device) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast on CUDA; nothing on CPU (fp32 is faster and exact there)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
