"""Per-pixel accumulators that blend tile probabilities, and the block's final outputs."""

from __future__ import annotations

from typing import Literal

import numpy as np

from volseg.geometry import Box
from volseg.tiling import Tile, WindowKind

__all__ = ["Accumulator", "ProbabilityDtype"]

ProbabilityDtype = Literal["float16", "uint8"]
# Variances below this (uncertainty < 0.002) are float32 rounding of E[p²] - p̄², not signal.
_VAR_FLOOR = 1e-6


class Accumulator:
    """Weighted sums of tile probabilities over one plane of a block, in float32.

    The predictor blends one slice at a time (memory: a few planes, whatever the block's
    depth), then :meth:`reset` s for the next. Every tile is added with :meth:`add` in the
    global tile order, so each pixel's sum has the same operands in the same order whatever
    the block: the result is bit-identical across block layouts. Only elementwise numpy
    operations are used (a multiply, then an add: never a fused multiply-add), which round
    the same everywhere.
    """

    def __init__(
        self,
        block: Box,
        num_classes: int,
        *,
        window: WindowKind,
        weights: np.ndarray,
        second_moment: bool,
    ) -> None:
        self.block = block
        self.window = window
        self.weights = weights
        _, ny, nx = block.shape
        self.sum = np.zeros((num_classes, ny, nx), np.float32)
        self.sum2 = np.zeros_like(self.sum) if second_moment else None
        self.weight_sum = np.zeros((ny, nx), np.float32)

    def reset(self) -> None:
        """Clear the probability sums (the weight sum is the same for every slice)."""
        self.sum.fill(0.0)
        if self.sum2 is not None:
            self.sum2.fill(0.0)

    def _where(self, tile: Tile) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
        """(block slices, tile slices) of the tile's non-zero weights inside the block."""
        plane = Box(self.block.start[1:], self.block.stop[1:])
        part = tile.support(self.window).intersect(plane)
        if part.empty:
            return None
        inner = part.relative_to(plane)
        in_tile = part.shift((-tile.y0, -tile.x0)).slices
        return (inner[0], inner[1]), (in_tile[0], in_tile[1])

    def add_weight(self, tile: Tile) -> None:
        """Add a tile's weights to the per-pixel weight sum (once per tile, not per slice)."""
        where = self._where(tile)
        if where is None:
            return
        (by, bx), (ty, tx) = where
        if self.window == "crop-centre":
            self.weight_sum[by, bx] += np.float32(1.0)
        else:
            self.weight_sum[by, bx] += self.weights[ty, tx]

    def add(self, tile: Tile, probabilities: np.ndarray | None) -> None:
        """Add one tile's ``(K, tile, tile)`` probabilities to the current slice.

        ``None`` is a skipped tile: probability 1 for class 0.
        """
        where = self._where(tile)
        if where is None:
            return
        (by, bx), (ty, tx) = where
        unit = self.window == "crop-centre"
        w = None if unit else self.weights[ty, tx]
        if probabilities is None:
            self.sum[0, by, bx] += np.float32(1.0) if w is None else w
            if self.sum2 is not None:
                self.sum2[0, by, bx] += np.float32(1.0) if w is None else w
            return
        p = probabilities[:, ty, tx]
        wp = p if w is None else p * w
        self.sum[:, by, bx] += wp
        if self.sum2 is not None:
            self.sum2[:, by, bx] += wp * p

    def probabilities(self) -> np.ndarray:
        """Blended ``(K, y, x)`` float32 probabilities of the slice: weighted sum / weight sum."""
        return self.sum / self.weight_sum

    def disagreement(self, mean: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Tile disagreement in ``[0, 1]`` at each pixel, see :class:`BlockPredictor`."""
        assert self.sum2 is not None
        second = self.sum2 / self.weight_sum
        idx = labels[None].astype(np.intp)
        m = np.take_along_axis(mean, idx, 0)[0]
        s = np.take_along_axis(second, idx, 0)[0]
        var = s - m * m
        # E[p²] - p̄² cancels: float32 leaves ~1e-7 where tiles agree; read that as 0.
        var[var < _VAR_FLOOR] = 0.0
        return np.minimum(2.0 * np.sqrt(var), 1.0)


def decide(probabilities: np.ndarray, offsets: np.ndarray | None) -> np.ndarray:
    """``argmax_c(log p_c + offset_c)`` over axis 0 as uint8 (first class on ties).

    Computed as ``argmax_c(p_c · exp(offset_c))`` (the same order, no logarithm) with one
    elementwise comparison per class: about 5x faster than ``log`` + ``argmax(0)`` on a
    (3, 2300, 1920) slice.
    """
    scale = None if offsets is None else np.exp(np.asarray(offsets, np.float64)).astype(np.float32)
    best = probabilities[0] * scale[0] if scale is not None else probabilities[0].copy()
    labels = np.zeros(best.shape, np.uint8)
    for c in range(1, probabilities.shape[0]):
        score = probabilities[c] * scale[c] if scale is not None else probabilities[c]
        labels[score > best] = c
        np.maximum(best, score, out=best)
    return labels


def quantize(probabilities: np.ndarray, dtype: ProbabilityDtype) -> np.ndarray:
    """float16 as is, or uint8 as ``round(255 p)``."""
    if dtype == "uint8":
        return np.rint(np.clip(probabilities, 0.0, 1.0) * 255.0).astype(np.uint8)
    return probabilities.astype(np.float16)
