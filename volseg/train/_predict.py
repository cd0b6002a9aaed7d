"""Whole-image prediction for validation: one pass, or crop-centre tiles when large."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from volseg.models import predict_logits


def autocast(device: torch.device) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast on CUDA; nothing on CPU (fp32 is faster and exact there)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _starts(n: int, tile: int, step: int) -> list[int]:
    if n <= tile:
        return [0]
    starts = [*range(0, n - tile, step), n - tile]
    return sorted(set(starts))


def _tiles(
    shape: tuple[int, int], tile: int, margin: int
) -> Iterator[tuple[slice, slice, slice, slice]]:
    """(read y, read x, keep y, keep x) slices: tiles overlap by 2 * margin and each keeps
    its centre, so every pixel is predicted away from a tile edge where possible."""
    step = tile - 2 * margin
    for y0 in _starts(shape[0], tile, step):
        for x0 in _starts(shape[1], tile, step):
            ry, rx = slice(y0, min(y0 + tile, shape[0])), slice(x0, min(x0 + tile, shape[1]))
            ky = slice(
                0 if y0 == 0 else y0 + margin, ry.stop if ry.stop == shape[0] else ry.stop - margin
            )
            kx = slice(
                0 if x0 == 0 else x0 + margin, rx.stop if rx.stop == shape[1] else rx.stop - margin
            )
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
