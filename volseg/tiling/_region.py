"""What a block must read: the touching tiles, their context, mirrored edges, z halo."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from volseg.errors import GeometryError
from volseg.geometry import Box
from volseg.tiling._grid import Tile, TileGrid, WindowKind, reflect_index

__all__ = ["read_region", "tile_input_indices", "z_halo_for"]


def z_halo_for(in_channels: int) -> int:
    """Slices read on each side of a slice for 2.5D input: ``(in_channels - 1) // 2``."""
    return (int(in_channels) - 1) // 2


def tile_input_indices(
    tile: Tile, grid: TileGrid, *, context: int
) -> tuple[np.ndarray, np.ndarray]:
    """Slice rows and columns a tile's input is gathered from.

    The input is the tile grown by ``context`` px on every side; indices outside the
    slice are mirrored back (:func:`volseg.tiling.reflect_index`), so the input is a pure
    function of the tile's global position and the volume, whatever block asks for it.

    Returns
    -------
    rows, cols : numpy.ndarray
        int64 arrays of length ``tile.size + 2 * context``.
    """
    n = tile.size + 2 * context
    rows = reflect_index(np.arange(tile.y0 - context, tile.y0 - context + n), grid.shape[0])
    cols = reflect_index(np.arange(tile.x0 - context, tile.x0 - context + n), grid.shape[1])
    return rows, cols


def _source(first: int, last: int, grid: TileGrid, axis: int, context: int) -> tuple[int, int]:
    start = first * grid.step - context
    stop = last * grid.step + grid.tile + context
    mapped = reflect_index(np.arange(start, stop), grid.shape[axis])
    return int(mapped.min()), int(mapped.max()) + 1


def read_region(
    block: Box,
    grid: TileGrid,
    *,
    context: int,
    z_halo: int,
    volume_shape: Sequence[int],
    window: WindowKind = "gaussian",
) -> Box:
    """The box of the volume a block must read to be predicted.

    Parameters
    ----------
    block : Box
        The block's output box, ``(z, y, x)``.
    grid : TileGrid
        The global tile grid of the volume's slices.
    context : int
        Pixels of real data read around every tile.
    z_halo : int
        Slices read above and below (2.5D input: :func:`z_halo_for`).
    volume_shape : sequence of int
        ``(z, y, x)`` shape of the volume.
    window : {"gaussian", "uniform", "crop-centre"}, default "gaussian"
        Decides which tiles touch the block (crop-centre: only the owners of its pixels).

    Returns
    -------
    Box
        In ``y, x``: the union of the inputs of the tiles touching the block (each tile
        grown by ``context``), with positions beyond the volume replaced by the pixels they
        mirror. In ``z``: the block grown by ``z_halo``, clipped to the volume (beyond it the
        edge slice is repeated, as in training). Always inside the volume, and inside
        ``block.grow((z_halo, h, h))`` with ``h`` from :func:`volseg.tiling.derive_halo`.

    Raises
    ------
    GeometryError
        A block that is empty, not 3-D or not inside the volume, or a grid whose slice
        shape is not the volume's.
    """
    volume = Box.from_shape(tuple(volume_shape))
    if block.ndim != 3 or volume.ndim != 3:
        raise GeometryError(f"expected a (z, y, x) block and volume, got {block} in {volume}")
    if block.empty or not volume.contains(block):
        raise GeometryError(f"block {block} is empty or not inside the volume {volume}")
    if tuple(volume.shape[1:]) != grid.shape:
        raise GeometryError(
            f"the tile grid covers slices of {grid.shape} but the volume is {volume.shape}"
        )
    tiles = grid.tiles_touching(
        block.start[1], block.stop[1], block.start[2], block.stop[2], window=window
    )
    (iy0, ix0), (iy1, ix1) = tiles[0].index, tiles[-1].index
    y = _source(iy0, iy1, grid, 0, context)
    x = _source(ix0, ix1, grid, 1, context)
    z = (max(0, block.start[0] - z_halo), min(volume.stop[0], block.stop[0] + z_halo))
    return Box((z[0], y[0], x[0]), (z[1], y[1], x[1]))
