"""Blending windows: how much each tile's prediction counts at each of its pixels."""

from __future__ import annotations

from typing import get_args

import numpy as np

from volseg.errors import ConfigError
from volseg.tiling._grid import WindowKind

__all__ = ["GAUSSIAN_FLOOR", "GAUSSIAN_SIGMA", "blend_window"]

#: σ of the gaussian window as a fraction of the tile (MONAI's ``sigma_scale``).
GAUSSIAN_SIGMA = 0.125
#: Smallest gaussian weight, so every pixel of a tile has weight > 0.
GAUSSIAN_FLOOR = 1e-6


def blend_window(tile: int, overlap: int, kind: WindowKind) -> np.ndarray:
    """The ``(tile, tile)`` float32 weights a tile's probabilities are blended with.

    Parameters
    ----------
    tile : int
        Tile edge in pixels.
    overlap : int
        Pixels shared by neighbouring tiles (``0 <= overlap < tile``).
    kind : {"gaussian", "uniform", "crop-centre"}
        ``"gaussian"``: ``exp(-d² / 2σ²)`` around the tile centre ``(tile - 1) / 2`` with
        ``σ = tile / 8`` (as MONAI's sliding-window inference), peak 1, floored at
        :data:`GAUSSIAN_FLOOR` so no pixel has weight 0; down-weights tile borders, where
        the network sees the least context. ``"uniform"``: ones (a plain average).
        ``"crop-centre"``: 1 on the centre ``step × step`` square that an interior tile
        owns (``overlap // 2`` px in from the top/left edge), 0 elsewhere.

    Returns
    -------
    numpy.ndarray
        ``(tile, tile)`` float32, symmetric under transposition.

    Notes
    -----
    Crop-centre is implemented as per-tile ownership (:attr:`volseg.tiling.Tile.owned`):
    the first and last tiles of a row own up to the slice edge, so owned regions partition
    the slice exactly. The array returned here is the interior tile's ownership mask.
    Weights are normalized per pixel when blending (divided by the sum over tiles), so
    only their ratios matter.

    Raises
    ------
    ConfigError
        Unknown ``kind``, or ``tile``/``overlap`` out of range.
    """
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 1:
        raise ConfigError(f"tile size must be a positive integer, got {tile!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < tile:
        raise ConfigError(f"overlap must be an integer in [0, {tile}), got {overlap!r}")
    if kind == "uniform":
        return np.ones((tile, tile), np.float32)
    if kind == "gaussian":
        centre = (tile - 1) / 2
        sigma = GAUSSIAN_SIGMA * tile
        g = np.exp(-0.5 * ((np.arange(tile) - centre) / sigma) ** 2)
        return np.maximum(np.outer(g, g), GAUSSIAN_FLOOR).astype(np.float32)
    if kind == "crop-centre":
        half = overlap // 2
        step = tile - overlap
        out = np.zeros((tile, tile), np.float32)
        out[half : half + step, half : half + step] = 1.0
        return out
    raise ConfigError(f"window must be one of {get_args(WindowKind)}, got {kind!r}")
