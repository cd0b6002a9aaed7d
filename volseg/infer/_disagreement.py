"""How much tiling changes a model's labels: tiled vs single-pass inference."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, get_args

import numpy as np
from torch import nn

from volseg.errors import InputError
from volseg.geometry import Box
from volseg.infer._plan import InferencePlan
from volseg.infer._predictor import BlockPredictor
from volseg.models import resolve_device
from volseg.tiling import WindowKind, derive_context

__all__ = ["predict_volume", "single_pass_tile", "tiling_disagreement"]


def predict_volume(
    model: nn.Module,
    image: np.ndarray,
    *,
    tile: int,
    overlap: int,
    window: WindowKind,
    context: int,
    normalization: tuple[float, float],
    batch_size: int = 4,
    device: str = "cpu",
    logit_offsets: Sequence[float] | None = None,
) -> tuple[np.ndarray, int]:
    """Labels of a whole ``(z, y, x)`` image predicted as one block, and the tile count."""
    plan = InferencePlan(
        volume_shape=tuple(int(s) for s in image.shape),  # type: ignore[arg-type]
        tile=tile,
        overlap=overlap,
        context=context,
        batch_size=batch_size,
        normalization=normalization,
        window=window,
        device="cuda" if resolve_device(device).type == "cuda" else "cpu",
        logit_offsets=None if logit_offsets is None else tuple(logit_offsets),
    )
    predictor = BlockPredictor(model, plan)
    box = Box.from_shape(image.shape)
    result = predictor.predict(box, image, box)
    return result.labels, result.stats.tiles_run


def single_pass_tile(shape: Sequence[int], alignment: int) -> int:
    """The tile of a single pass: one tile covering a whole ``(y, x)`` slice, its larger side
    rounded up to the model ``alignment``.

    The reference of tiled inference is this tile with no overlap, one tile per forward
    pass and the same context: then the only difference measured is the tiling.
    """
    return -(-max(int(s) for s in shape) // alignment) * alignment


def tiling_disagreement(
    model: nn.Module,
    image: np.ndarray,
    *,
    tile: int,
    overlaps: Sequence[int],
    windows: Sequence[WindowKind] = get_args(WindowKind),
    context: int | None = None,
    normalization: tuple[float, float] | None = None,
    batch_size: int = 4,
    device: str = "cpu",
    logit_offsets: Sequence[float] | None = None,
) -> list[dict[str, Any]]:
    """Fraction of pixels whose label changes when a volume is tiled.

    The reference is a single pass: one tile covering the whole slice (its size rounded
    up to the model alignment), with the same ``context`` of mirrored padding, so the only
    difference measured is the tiling.

    Parameters
    ----------
    model : torch.nn.Module
        A segmentation network.
    image : numpy.ndarray
        ``(y, x)`` or ``(z, y, x)`` raw image.
    tile : int
        Tile edge (a multiple of the model alignment).
    overlaps : sequence of int
        Overlaps (px) to measure.
    windows : sequence of {"gaussian", "uniform", "crop-centre"}
        Blending windows to measure.
    context : int, optional
        Context px around each tile; default :func:`volseg.tiling.derive_context`.
    normalization : (float, float), optional
        ``(mean, std)``; default the image's own mean and std.
    batch_size, device, logit_offsets
        As :class:`BlockPredictor`.

    Returns
    -------
    list of dict
        One record per (window, overlap) in the given order, with keys ``window``,
        ``overlap``, ``tile``, ``context``, ``tiles`` (tiles run), ``pixels``,
        ``disagreement`` (fraction of pixels whose label differs from the single pass) and
        ``seconds``.

    Raises
    ------
    InputError
        An image that is not 2-D or 3-D.
    """
    if image.ndim == 2:
        image = image[None]
    if image.ndim != 3:
        raise InputError(f"expected a (y, x) or (z, y, x) image, got shape {image.shape}")
    alignment = int(getattr(model, "alignment", 1))
    context = derive_context(alignment=alignment, context=context)
    if normalization is None:
        std = float(image.std())
        normalization = (float(image.mean()), std if std > 0 else 1.0)
    common: dict[str, Any] = {
        "context": context,
        "normalization": normalization,
        "batch_size": batch_size,
        "device": device,
        "logit_offsets": logit_offsets,
    }
    whole = single_pass_tile(image.shape[1:], alignment)
    reference, _ = predict_volume(
        model, image, tile=whole, overlap=0, window="uniform", **{**common, "batch_size": 1}
    )
    records = []
    for window in windows:
        for overlap in overlaps:
            t0 = time.perf_counter()
            labels, tiles = predict_volume(
                model, image, tile=tile, overlap=overlap, window=window, **common
            )
            records.append(
                {
                    "window": window,
                    "overlap": int(overlap),
                    "tile": int(tile),
                    "context": context,
                    "tiles": tiles,
                    "pixels": int(labels.size),
                    "disagreement": float(np.mean(labels != reference)),
                    "seconds": time.perf_counter() - t0,
                }
            )
    return records
