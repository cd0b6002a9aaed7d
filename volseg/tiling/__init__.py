"""Tiling: one global grid of 2D tiles, blending windows, and what a block must read.

Numpy only. Tiles sit on a grid anchored at the volume origin (tile ``k`` starts at
``k * (tile - overlap)``), so the tiles that predict a pixel never depend on how the
volume is split into blocks. The halo a block reads is derived from the tile size, the
overlap, the model alignment and the model context, never typed by the user.

Examples
--------
>>> from volseg.geometry import Box
>>> from volseg.tiling import TileGrid, read_region
>>> grid = TileGrid((203, 157), tile=64, overlap=16)
>>> read_region(Box((0, 0, 0), (2, 64, 64)), grid, context=8, z_halo=0,
...             volume_shape=(5, 203, 157))
Box(start=(0, 0, 0), stop=(2, 120, 120))
"""

from volseg.tiling._derive import (
    DEFAULT_TILE,
    MIN_CONTEXT,
    MIN_OVERLAP,
    Device,
    derive_batch_size,
    derive_context,
    derive_halo,
    derive_tiling,
)
from volseg.tiling._grid import Tile, TileGrid, WindowKind, check_tile, reflect_index
from volseg.tiling._region import read_region, tile_input_indices, z_halo_for
from volseg.tiling._window import GAUSSIAN_FLOOR, GAUSSIAN_SIGMA, blend_window

__all__ = [
    "DEFAULT_TILE",
    "GAUSSIAN_FLOOR",
    "GAUSSIAN_SIGMA",
    "MIN_CONTEXT",
    "MIN_OVERLAP",
    "Device",
    "Tile",
    "TileGrid",
    "WindowKind",
    "blend_window",
    "check_tile",
    "derive_batch_size",
    "derive_context",
    "derive_halo",
    "derive_tiling",
    "read_region",
    "reflect_index",
    "tile_input_indices",
    "z_halo_for",
]
