"""Padding inputs to a model's alignment, and predicting logits for any image size."""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from volseg.errors import ConfigError, InputError

__all__ = ["PadMode", "pad_to_alignment", "predict_logits"]

PadMode = Literal["reflect", "replicate", "constant"]


def _pad_axis(x: torch.Tensor, axis: int, before: int, after: int, mode: PadMode) -> torch.Tensor:
    if before == 0 and after == 0:
        return x
    # reflect needs pad < size; an image smaller than its pad is replicated instead
    if mode == "reflect" and max(before, after) >= x.shape[axis]:
        mode = "replicate"
    pad = (before, after, 0, 0) if axis == -1 else (0, 0, before, after)
    if mode == "constant":
        return F.pad(x, pad, mode="constant", value=0.0)
    return F.pad(x, pad, mode=mode)


def pad_to_alignment(
    x: torch.Tensor, alignment: int, mode: PadMode = "reflect"
) -> tuple[torch.Tensor, tuple[slice, ...]]:
    """Pad the last two axes of ``x`` up to multiples of ``alignment``.

    Parameters
    ----------
    x : torch.Tensor
        ``(C, H, W)`` or ``(N, C, H, W)`` floating-point images.
    alignment : int
        The multiple (a model's ``alignment``, e.g. 32 for SegNet).
    mode : {"reflect", "replicate", "constant"}, default "reflect"
        How to fill the pad. ``"reflect"`` mirrors the image without repeating the edge; on
        an axis whose pad is not smaller than the image (a 10-px image padded to 32), that
        axis is replicated instead. ``"constant"`` pads with zeros.

    Returns
    -------
    padded : torch.Tensor
        ``x`` padded on each axis by ``pad // 2`` before and the rest after (``x`` itself
        when already aligned).
    crop : tuple of slice
        Index ``padded`` (or a model output of the same spatial size) with it to get back
        the original ``H, W``: ``padded[crop]`` equals ``x``.

    Raises
    ------
    ConfigError
        If ``alignment`` is not a positive integer or ``mode`` is unknown.
    InputError
        If ``x`` is not 3-D/4-D or has an empty spatial axis.

    Examples
    --------
    >>> x = torch.zeros(1, 1, 33, 64)
    >>> padded, crop = pad_to_alignment(x, 32)
    >>> tuple(padded.shape), tuple(padded[crop].shape)
    ((1, 1, 64, 64), (1, 1, 33, 64))
    """
    if isinstance(alignment, bool) or not isinstance(alignment, int) or alignment < 1:
        raise ConfigError(f"alignment must be a positive integer, got {alignment!r}")
    if mode not in get_args(PadMode):
        raise ConfigError(f"pad mode must be one of {get_args(PadMode)}, got {mode!r}")
    if x.ndim not in (3, 4):
        raise InputError(
            f"expected images shaped (C, H, W) or (N, C, H, W), got shape {tuple(x.shape)}"
        )
    h, w = x.shape[-2:]
    if h == 0 or w == 0:
        raise InputError(f"cannot pad an empty image, got shape {tuple(x.shape)}")
    lead = (slice(None),) * (x.ndim - 2)
    crop = []
    for axis, size in ((-2, h), (-1, w)):
        total = -size % alignment
        before = total // 2
        x = _pad_axis(x, axis, before, total - before, mode)
        crop.append(slice(before, before + size))
    return x, (*lead, *crop)


def predict_logits(
    model: nn.Module,
    x: torch.Tensor,
    *,
    alignment: int | None = None,
    mode: PadMode = "reflect",
) -> torch.Tensor:
    """Logits of ``model`` for images of any height and width.

    Pads ``x`` to the model's alignment (:func:`pad_to_alignment`), runs the model under
    ``torch.no_grad()`` and crops the logits back to ``x``'s size. Aligned inputs go
    through unchanged. The model's train/eval mode and device are left as they are
    (models from :func:`volseg.models.load_checkpoint` are in eval mode); run it inside
    ``torch.autocast`` for mixed precision.

    Parameters
    ----------
    model : torch.nn.Module
        A segmentation network; its ``alignment`` attribute is used unless given.
    x : torch.Tensor
        ``(N, C, H, W)`` images on the model's device.
    alignment : int, optional
        Overrides ``model.alignment`` (1 when the model declares none).
    mode : {"reflect", "replicate", "constant"}, default "reflect"
        Padding mode, see :func:`pad_to_alignment`.

    Returns
    -------
    torch.Tensor
        ``(N, num_classes, H, W)`` logits.

    Raises
    ------
    InputError
        If ``x`` is not 4-D, or its channels differ from ``model.in_channels``.
    """
    if x.ndim != 4:
        raise InputError(f"expected images shaped (N, C, H, W), got shape {tuple(x.shape)}")
    expected = getattr(model, "in_channels", None)
    if expected is not None and x.shape[1] != expected:
        raise InputError(
            f"the model takes {expected} input channel(s) but the images have {x.shape[1]} "
            f"(shape {tuple(x.shape)}); stack {expected} slice(s) as channels"
        )
    if alignment is None:
        alignment = int(getattr(model, "alignment", 1))
    padded, crop = pad_to_alignment(x, alignment, mode=mode)
    with torch.no_grad():
        logits = model(padded)
    return logits[crop] if padded is not x else logits
