"""Devices, mixed precision and the per-worker model cache."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

from volseg.models import Checkpoint, autocast, load_checkpoint, resolve_device

__all__ = ["autocast", "cached_checkpoint", "resolve_device"]


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
