"""The global tile grid: square 2D tiles anchored at the volume origin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from volseg.errors import ConfigError, GeometryError
from volseg.geometry import Box

__all__ = ["Tile", "TileGrid", "WindowKind", "check_tile", "reflect_index"]

#: How a tile's prediction is weighted when overlapping tiles are blended
#: (see :func:`volseg.tiling.blend_window`).
WindowKind = Literal["gaussian", "uniform", "crop-centre"]


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def check_tile(tile: int, alignment: int) -> None:
    """Raise unless ``tile`` is a positive multiple of the model's ``alignment``.

    Raises
    ------
    ConfigError
        Naming the tile, the alignment and the nearest valid sizes.
    """
    if not _is_int(alignment) or alignment < 1:
        raise ConfigError(f"alignment must be a positive integer, got {alignment!r}")
    if not _is_int(tile) or tile < 1:
        raise ConfigError(f"tile size must be a positive integer, got {tile!r}")
    if tile % alignment:
        lower = max(alignment, tile // alignment * alignment)
        upper = -(-tile // alignment) * alignment
        raise ConfigError(
            f"tile size {tile} is not a multiple of the model alignment {alignment} (the "
            f"model pools {alignment.bit_length() - 1} time(s)); use {lower} or {upper}"
        )


def reflect_index(index: np.ndarray, size: int) -> np.ndarray:
    """Map global indices onto ``[0, size)`` by mirroring at the edges without repeating them.

    The same as ``numpy.pad(..., mode="reflect")`` for any pad width (repeated mirroring
    when the pad exceeds the array); a size-1 axis maps everything to 0.
    """
    index = np.asarray(index, dtype=np.int64)
    if size == 1:
        return np.zeros_like(index)
    period = 2 * (size - 1)
    m = np.mod(index, period)
    return np.where(m >= size, period - m, m)


@dataclass(frozen=True, slots=True)
class Tile:
    """One tile of a :class:`TileGrid`.

    Attributes
    ----------
    index : tuple of int
        ``(iy, ix)``, the position in the grid; tiles are ordered by it (row-major).
    y0, x0 : int
        Top-left corner in slice coordinates: ``iy * step``, ``ix * step``.
    size : int
        Edge length; the tile covers ``[y0, y0 + size) × [x0, x0 + size)`` and may extend
        past the slice (the caller pads).
    owned : Box
        The pixels of the slice this tile owns under crop-centre blending: its centre
        ``step × step`` square, extended to the slice edge for the first and last tiles.
        Owned boxes of all tiles partition the slice exactly.
    """

    index: tuple[int, int]
    y0: int
    x0: int
    size: int
    owned: Box

    @property
    def box(self) -> Box:
        """The tile's full ``(y, x)`` box (it may extend past the slice)."""
        return Box((self.y0, self.x0), (self.y0 + self.size, self.x0 + self.size))

    def support(self, window: WindowKind) -> Box:
        """Where ``window`` gives this tile non-zero weight (unclipped for gaussian/uniform)."""
        return self.owned if window == "crop-centre" else self.box


@dataclass(frozen=True, slots=True)
class TileGrid:
    """One global grid of square tiles over a 2D slice of ``shape`` (y, x).

    Tile ``k`` along an axis starts at ``k * step`` with ``step = tile - overlap``; the
    grid is anchored at the volume origin and never depends on blocks, so every block
    sees the same tiles (invariant 5). There are as many tiles as needed to cover the
    slice; the last ones may extend past it.

    Parameters
    ----------
    shape : tuple of int
        Slice shape ``(height, width)``, both > 0.
    tile : int
        Tile edge in pixels (> 0; a multiple of the model alignment, see :func:`check_tile`).
    overlap : int
        Pixels shared by neighbouring tiles, ``0 <= overlap < tile``.

    Raises
    ------
    GeometryError
        A non-positive shape.
    ConfigError
        A tile or overlap out of range.

    Examples
    --------
    >>> grid = TileGrid((203, 157), tile=64, overlap=16)
    >>> grid.step, grid.grid_shape
    (48, (4, 3))
    >>> [t.index for t in grid.tiles_touching(0, 10, 40, 60)]
    [(0, 0), (0, 1)]
    """

    shape: tuple[int, int]
    tile: int
    overlap: int

    def __post_init__(self) -> None:
        shape = tuple(self.shape)
        if len(shape) != 2 or not all(_is_int(s) and s > 0 for s in shape):
            raise GeometryError(f"a tile grid needs a positive 2D slice shape, got {self.shape}")
        if not _is_int(self.tile) or self.tile < 1:
            raise ConfigError(f"tile size must be a positive integer, got {self.tile!r}")
        if not _is_int(self.overlap) or not 0 <= self.overlap < self.tile:
            raise ConfigError(
                f"tile overlap must be an integer in [0, {self.tile}) for tile {self.tile}, "
                f"got {self.overlap!r}; lower the overlap or raise the tile size"
            )
        object.__setattr__(self, "shape", (int(shape[0]), int(shape[1])))
        object.__setattr__(self, "tile", int(self.tile))
        object.__setattr__(self, "overlap", int(self.overlap))

    @property
    def step(self) -> int:
        return self.tile - self.overlap

    @property
    def grid_shape(self) -> tuple[int, int]:
        """Tiles along y and x."""
        return (self._count(self.shape[0]), self._count(self.shape[1]))

    def __len__(self) -> int:
        ny, nx = self.grid_shape
        return ny * nx

    def _count(self, n: int) -> int:
        return 1 + max(0, -(-(n - self.tile) // self.step))

    def _owned(self, k: int, axis: int) -> tuple[int, int]:
        n, size, half = self.grid_shape[axis], self.shape[axis], self.overlap // 2
        start = 0 if k == 0 else k * self.step + half
        stop = size if k == n - 1 else (k + 1) * self.step + half
        return start, stop

    def tile_at(self, index: tuple[int, int]) -> Tile:
        """The tile at grid position ``(iy, ix)``."""
        iy, ix = index
        ny, nx = self.grid_shape
        if not (0 <= iy < ny and 0 <= ix < nx):
            raise GeometryError(f"tile index {index} is outside the tile grid {(ny, nx)}")
        (oy0, oy1), (ox0, ox1) = self._owned(iy, 0), self._owned(ix, 1)
        return Tile(
            index=(iy, ix),
            y0=iy * self.step,
            x0=ix * self.step,
            size=self.tile,
            owned=Box((oy0, ox0), (oy1, ox1)),
        )

    def _range(self, a: int, b: int, axis: int, window: WindowKind) -> range:
        n = self.grid_shape[axis]
        a, b = max(a, 0), min(b, self.shape[axis])
        if a >= b:
            return range(0)
        if window == "crop-centre":
            half = self.overlap // 2
            first = min(max((a - half) // self.step, 0), n - 1)
            last = min(max((b - 1 - half) // self.step, 0), n - 1)
        else:
            first = max((a - self.tile) // self.step + 1, 0)
            last = min((b - 1) // self.step, n - 1)
        return range(first, last + 1)

    def tiles_touching(
        self, y0: int, y1: int, x0: int, x1: int, *, window: WindowKind = "gaussian"
    ) -> list[Tile]:
        """Tiles whose non-zero-weight area meets ``[y0, y1) × [x0, x1)`` within the slice.

        Parameters
        ----------
        y0, y1, x0, x1 : int
            The region, half-open, in slice coordinates (clipped to the slice).
        window : {"gaussian", "uniform", "crop-centre"}, default "gaussian"
            Gaussian and uniform weigh a whole tile; crop-centre only its owned pixels.

        Returns
        -------
        list of Tile
            In the fixed global order (row-major by ``index``); empty for an empty region.
        """
        if window not in get_args(WindowKind):
            raise ConfigError(f"window must be one of {get_args(WindowKind)}, got {window!r}")
        ys = self._range(y0, y1, 0, window)
        xs = self._range(x0, x1, 1, window)
        return [self.tile_at((iy, ix)) for iy in ys for ix in xs]

    def tiles(self) -> list[Tile]:
        """Every tile, in the global order."""
        return self.tiles_touching(0, self.shape[0], 0, self.shape[1])
