"""Whole-image prediction for validation: one pass, or crop-centre tiles when large."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import torch

from volseg.models import autocast, predict_logits


def _starts(n: int, tile: int, step: int) -> list[int]:
    if n <= tile:
        return [0]
    starts = [*range(0, n - tile, step), n - tile]
    return sorted(set(starts))


def _keeps(n: int, tile: int, step: int) -> list[tuple[slice, slice]]:
    """(read, keep) slices along one axis: each pixel is kept from exactly one tile, the
    one whose edge is farthest (boundaries at the middle of each overlap)."""
    starts = _starts(n, tile, step)
    cuts = [0] + [(b + a + tile) // 2 for a, b in itertools.pairwise(starts)] + [n]
    return [(slice(a, min(a + tile, n)), slice(cuts[i], cuts[i + 1])) for i, a in enumerate(starts)]


def _tiles(
    shape: tuple[int, int], tile: int, margin: int
) -> Iterator[tuple[slice, slice, slice, slice]]:
    """(read y, read x, keep y, keep x) slices: tiles overlap by at least 2 * margin and keep
    regions partition the image exactly."""
    step = tile - 2 * margin
    for ry, ky in _keeps(shape[0], tile, step):
        for rx, kx in _keeps(shape[1], tile, step):
            yield ry, rx, ky, kx


@torch.no_grad()
def predict_image(
    model: torch.nn.Module,
    image: np.ndarray,
    *,
    device: torch.device,
    max_tile: int = 1024,
    margin: int = 64,
) -> torch.Tensor:
    """Logits ``(classes, H, W)`` (float32, on CPU) of one normalized image ``(H, W)`` or
    ``(C, H, W)``. Images up to ``max_tile`` px are predicted in one pass; larger ones in
    overlapping tiles whose centres are kept (a later pixel overwrites nothing it should
    not: keep regions tile the image exactly)."""
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
    if x.ndim == 2:
        x = x[None]
    h, w = x.shape[-2:]
    if max(h, w) <= max_tile:
        with autocast(device):
            return predict_logits(model, x[None].to(device))[0].float().cpu()
    out: torch.Tensor | None = None
    for ry, rx, ky, kx in _tiles((h, w), max_tile, margin):
        with autocast(device):
            logits = predict_logits(model, x[None, :, ry, rx].to(device))[0].float().cpu()
        if out is None:
            out = torch.empty((logits.shape[0], h, w), dtype=torch.float32)
        out[:, ky, kx] = logits[
            :, ky.start - ry.start : ky.stop - ry.start, kx.start - rx.start : kx.stop - rx.start
        ]
    assert out is not None
    return out
