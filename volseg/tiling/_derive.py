"""Tile size, overlap, context, halo and batch size derived from the model and device."""

from __future__ import annotations

import math
from typing import Literal, get_args

from volseg.errors import ConfigError
from volseg.tiling._grid import check_tile

__all__ = [
    "DEFAULT_TILE",
    "MIN_CONTEXT",
    "MIN_OVERLAP",
    "derive_batch_size",
    "derive_context",
    "derive_halo",
    "derive_tiling",
]

Device = Literal["cpu", "cuda"]

#: Default tile edge per device, before rounding up to the model alignment.
DEFAULT_TILE = {"cpu": 512, "cuda": 1024}
#: Smallest overlap (px) derived from a non-zero overlap fraction.
MIN_OVERLAP = 32
#: Smallest default context (px of real data read around every tile).
MIN_CONTEXT = 32
# Pixels per forward pass (batch × tile²) that derive_batch_size aims for.
_PIXEL_BUDGET = {"cpu": 2**18, "cuda": 2**23}
# Parameters of a width-64 SegNet, the model the budgets were sized for.
_REFERENCE_PARAMS = 29_443_010


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _check_device(device: str) -> None:
    if device not in get_args(Device):
        raise ConfigError(f"device must be one of {get_args(Device)}, got {device!r}")


def derive_tiling(
    *,
    alignment: int,
    tile: int | None = None,
    overlap: float | int = 0.25,
    device: Device,
) -> tuple[int, int]:
    """Tile size and overlap (px) for a model and a device.

    Parameters
    ----------
    alignment : int
        The model's input size multiple (32 for SegNet).
    tile : int, optional
        Tile edge; must be a multiple of ``alignment``. Default: 512 px on CPU, 1024 px on
        CUDA, rounded up to the alignment.
    overlap : float or int, default 0.25
        A float in ``[0, 1)`` is a fraction of the tile: rounded to a multiple of
        ``max(2, alignment)`` px (so every tile starts on the model's pooling grid and the
        crop-centre split is symmetric) and raised to at least :data:`MIN_OVERLAP` px when
        non-zero. An int is a pixel count used as given (``0 <= overlap < tile``).
    device : {"cpu", "cuda"}
        Where inference runs.

    Returns
    -------
    tile, overlap : int
        Tile edge and overlap in pixels, ``0 <= overlap < tile``.

    Raises
    ------
    ConfigError
        A tile that is not a multiple of the alignment, an overlap out of range, an
        unknown device.

    Examples
    --------
    >>> derive_tiling(alignment=32, device="cpu")
    (512, 128)
    >>> derive_tiling(alignment=32, tile=256, overlap=0.1, device="cuda")
    (256, 32)
    """
    _check_device(device)
    if tile is None:
        tile = _round_up(DEFAULT_TILE[device], alignment)
    check_tile(tile, alignment)
    if isinstance(overlap, bool):
        raise ConfigError(f"overlap must be a fraction or a pixel count, got {overlap!r}")
    if isinstance(overlap, float):
        if not 0.0 <= overlap < 1.0:
            raise ConfigError(f"an overlap fraction must be in [0, 1), got {overlap}")
        if overlap == 0.0:
            return tile, 0
        unit = max(2, alignment)
        px = max(MIN_OVERLAP, round(overlap * tile / unit) * unit)
        # Never leave a step smaller than one unit.
        px = min(px, tile - unit) if tile > unit else 0
        return tile, max(px, 0)
    if not isinstance(overlap, int) or not 0 <= overlap < tile:
        raise ConfigError(
            f"an overlap in pixels must be an integer in [0, {tile}) for tile {tile}, "
            f"got {overlap!r}"
        )
    return tile, overlap


def derive_context(*, alignment: int, context: int | None = None, overlap: int = 0) -> int:
    """Pixels of real data read around every tile (and discarded after the forward pass).

    Parameters
    ----------
    alignment : int
        The model's input size multiple.
    context : int, optional
        The wanted context. Default: 0 when tiles overlap by at least ``2 * MIN_CONTEXT``
        px (their borders then carry almost no blending weight: 0.2 % of the centre's at
        32 px from the edge of a gaussian window, none with crop-centre), else
        ``max(MIN_CONTEXT, alignment)``. Context costs compute: 32 px around a 512 px tile
        is 27 % more pixels per forward pass.
    overlap : int, default 0
        The tile overlap in px, for the default.

    Returns
    -------
    int
        ``context`` rounded up so that ``2 * context`` is a multiple of ``alignment``: a
        tile of an aligned size plus its context on both sides is aligned again, so the
        model runs without further padding.

    Notes
    -----
    A model whose receptive-field radius is at most the context sees, for every pixel it
    keeps, exactly the data a single whole-slice pass would show it, so tiling changes
    nothing. SegNet's receptive field is far larger; there the context and the blending
    overlap reduce, but do not remove, tile effects (see :func:`volseg.infer.tiling_disagreement`).
    """
    if isinstance(alignment, bool) or not isinstance(alignment, int) or alignment < 1:
        raise ConfigError(f"alignment must be a positive integer, got {alignment!r}")
    if context is None:
        context = 0 if overlap >= 2 * MIN_CONTEXT else max(MIN_CONTEXT, alignment)
    if isinstance(context, bool) or not isinstance(context, int) or context < 0:
        raise ConfigError(f"context must be a non-negative integer, got {context!r}")
    unit = alignment // math.gcd(2, alignment)
    return _round_up(context, unit)


def derive_halo(tile: int, overlap: int, alignment: int, context: int) -> int:
    """The in-plane halo (px) a block must read beyond its own box, an upper bound.

    Parameters
    ----------
    tile, overlap : int
        The tile grid (:func:`derive_tiling`).
    alignment : int
        The model's input size multiple (the context is rounded with it).
    context : int
        The wanted context (:func:`derive_context` rounds it).

    Returns
    -------
    int
        ``tile - 1 + c`` where ``c`` is the rounded context: a tile that
        touches the block (by a non-zero weight) starts at most ``tile - 1`` px before it
        and ends at most that far after it, and reads ``c`` px more; mirroring at a
        volume edge only reads pixels inside that range. Gaussian and uniform windows
        need the full bound; the exact region of a block is :func:`read_region`, which
        never exceeds ``block.grow(halo)``.

    Examples
    --------
    >>> derive_halo(512, 128, 32, 32)
    543
    """
    check_tile(tile, alignment)
    if not 0 <= overlap < tile:
        raise ConfigError(f"overlap must be in [0, {tile}), got {overlap}")
    return tile - 1 + derive_context(alignment=alignment, context=context)


def derive_batch_size(tile: int, device: Device, *, model_params: int | None = None) -> int:
    """Tiles per forward pass.

    On CUDA the batch holds about ``2**23`` pixels (8 tiles of 1024²), sized for a width-64
    SegNet; when ``model_params`` is given the budget is scaled by
    ``sqrt(29.4e6 / model_params)`` (activation memory grows with the width, parameters
    with its square), clamped to ``[1/4, 4]``. On CPU it holds ``2**18`` pixels whatever
    the model: one 512² tile, where a batch of one is fastest (measured with segnet-lite
    on one thread: 0.11 s per tile at batch 1, 0.135 s at 2, 0.17 s at 8: a larger batch
    falls out of the cache), more for small tiles so that Python overhead stays small.
    At least 1.

    Examples
    --------
    >>> derive_batch_size(1024, "cuda"), derive_batch_size(512, "cpu")
    (8, 1)
    >>> derive_batch_size(128, "cpu")
    16
    """
    _check_device(device)
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 1:
        raise ConfigError(f"tile size must be a positive integer, got {tile!r}")
    budget = float(_PIXEL_BUDGET[device])
    if model_params is not None:
        if model_params < 1:
            raise ConfigError(f"model_params must be positive, got {model_params}")
        if device == "cuda":
            budget *= min(4.0, max(0.25, math.sqrt(_REFERENCE_PARAMS / model_params)))
    return max(1, int(budget // (tile * tile)))
