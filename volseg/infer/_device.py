"""Devices, mixed precision and the per-worker model cache."""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

import torch

from volseg.errors import ConfigError
from volseg.models import Checkpoint, load_checkpoint

__all__ = ["autocast", "cached_checkpoint", "resolve_device"]


def resolve_device(device: str | torch.device) -> torch.device:
    """A ``torch.device`` for ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Raises
    ------
    ConfigError
        An unknown device, or CUDA asked for where none is available.
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"unknown device {device!r}: {exc}; use 'cpu' or 'cuda'") from None
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for but CUDA is not available; use 'cpu'")
    return dev


def autocast(device: torch.device) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast on CUDA; nothing on CPU (fp32 is faster and exact there)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@functools.lru_cache(maxsize=4)
def _load(path: str, sha256: str, device: str) -> Checkpoint:
    checkpoint = load_checkpoint(path, expected_sha256=sha256, map_location="cpu")
    dev = resolve_device(device)
    model = checkpoint.model.to(dev).eval()
    if dev.type == "cuda":
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return checkpoint


def cached_checkpoint(
    path: str | os.PathLike[str], sha256: str, device: str | torch.device
) -> Checkpoint:
    """Load a checkpoint once per process and reuse it (one model per dask worker).

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file.
    sha256 : str
        The weights hash the run was planned with; a file whose weights differ is refused,
        so a replaced checkpoint never mixes into a run.
    device : str or torch.device
        Where the model is put (in eval mode; channels-last on CUDA).

    Returns
    -------
    Checkpoint
        The same object for the same ``(resolved path, sha256, device)``; do not modify
        its model.

    Raises
    ------
    InputNotFoundError, CheckpointError
        As :func:`volseg.models.load_checkpoint`.
    """
    key = str(Path(path).resolve())
    return _load(key, sha256.strip().lower(), str(resolve_device(device)))
