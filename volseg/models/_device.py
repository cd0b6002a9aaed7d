"""Devices and mixed precision, shared by training and inference."""

from __future__ import annotations

import contextlib
from typing import get_args

import torch

from volseg._options import DeviceChoice, Precision
from volseg.errors import ConfigError
from volseg.tiling import Device

__all__ = ["autocast", "resolve_device", "resolve_precision"]


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


_AUTOCAST = {"auto": torch.bfloat16, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(precision: Precision | str, device: str) -> Precision:
    """The concrete precision of ``precision`` on a ``device`` type: ``"auto"`` is
    ``"bf16"`` on CUDA and ``"fp32"`` on the CPU.

    Raises
    ------
    ConfigError
        An unknown precision, or bf16/fp16 asked for on the CPU (float32 is faster there).
    """
    if precision not in get_args(Precision):
        raise ConfigError(
            f"precision must be one of {', '.join(map(repr, get_args(Precision)))}, "
            f"got {precision!r}"
        )
    if precision == "auto":
        return "bf16" if device == "cuda" else "fp32"
    if device != "cuda" and precision != "fp32":
        raise ConfigError(
            f"precision {precision!r} needs CUDA; on the CPU volseg computes in float32 "
            "(use precision 'auto' or 'fp32')"
        )
    return precision  # type: ignore[return-value]


def autocast(
    device: torch.device, precision: Precision = "auto"
) -> contextlib.AbstractContextManager[object]:
    """The arithmetic of a forward pass on ``device``: bf16 autocast on CUDA by default
    (fp16 with ``"fp16"``; float32 with TF32 off with ``"fp32"``); nothing on the CPU
    (float32 is faster and exact there)."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    if precision == "fp32":
        cudnn = torch.backends.cudnn
        return cudnn.flags(
            enabled=True,
            benchmark=cudnn.benchmark,
            deterministic=cudnn.deterministic,
            allow_tf32=False,
        )
    return torch.autocast("cuda", dtype=_AUTOCAST[precision])
