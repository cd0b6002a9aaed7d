"""Properties of the global tile grid, its windows and the regions blocks read."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from volseg.errors import ConfigError, GeometryError
from volseg.geometry import Box
from volseg.tiling import (
    TileGrid,
    blend_window,
    derive_halo,
    read_region,
    reflect_index,
    tile_input_indices,
)

WINDOWS = ("gaussian", "uniform", "crop-centre")


@st.composite
def grids(draw: st.DrawFn, max_size: int = 120) -> TileGrid:
    tile = draw(st.integers(1, 40))
    overlap = draw(st.integers(0, tile - 1))
    shape = (draw(st.integers(1, max_size)), draw(st.integers(1, max_size)))
    return TileGrid(shape, tile, overlap)


def weight_maps(grid: TileGrid, window: str) -> dict[tuple[int, int], np.ndarray]:
    """Brute force: each tile's weights painted on the slice (zero outside its support)."""
    w = blend_window(grid.tile, grid.overlap, window)  # type: ignore[arg-type]
    maps = {}
    for tile in grid.tiles():
        plane = np.zeros(grid.shape, np.float32)
        support = tile.support(window).intersect(Box.from_shape(grid.shape))  # type: ignore[arg-type]
        if window == "crop-centre":
            plane[support.slices] = 1.0
        else:
            local = support.shift((-tile.y0, -tile.x0))
            plane[support.slices] = w[local.slices]
        maps[tile.index] = plane
    return maps


@settings(max_examples=60, deadline=None)
@given(grid=grids())
def test_tiles_cover_every_pixel_and_start_on_the_global_grid(grid: TileGrid) -> None:
    covered = np.zeros(grid.shape, np.int32)
    for tile in grid.tiles():
        assert (tile.y0, tile.x0) == (tile.index[0] * grid.step, tile.index[1] * grid.step)
        assert tile.y0 < grid.shape[0] and tile.x0 < grid.shape[1]
        covered[tile.box.clip(Box.from_shape(grid.shape)).slices] += 1
    assert covered.min() >= 1


@settings(max_examples=60, deadline=None)
@given(grid=grids())
def test_crop_centre_ownership_partitions_the_slice(grid: TileGrid) -> None:
    owners = np.zeros(grid.shape, np.int32)
    for tile in grid.tiles():
        assert tile.box.contains(tile.owned)
        owners[tile.owned.slices] += 1
    np.testing.assert_array_equal(owners, 1)


@settings(max_examples=50, deadline=None)
@given(grid=grids(max_size=50), data=st.data())
def test_tiles_touching_equals_brute_force(grid: TileGrid, data: st.DataObject) -> None:
    h, w = grid.shape
    y0 = data.draw(st.integers(-5, h + 5))
    y1 = data.draw(st.integers(y0, h + 10))
    x0 = data.draw(st.integers(-5, w + 5))
    x1 = data.draw(st.integers(x0, w + 10))
    for window in WINDOWS:
        maps = weight_maps(grid, window)
        ys, xs = slice(max(y0, 0), max(y1, 0)), slice(max(x0, 0), max(x1, 0))
        expected = [i for i, m in maps.items() if (m[ys, xs] > 0).any()]
        got = [t.index for t in grid.tiles_touching(y0, y1, x0, x1, window=window)]  # type: ignore[arg-type]
        assert got == sorted(expected), window


@pytest.mark.parametrize("tile", [1, 2, 7, 64, 65, 512])
def test_gaussian_window_is_positive_symmetric_and_peaks_in_the_centre(tile: int) -> None:
    w = blend_window(tile, tile // 4, "gaussian")
    assert w.dtype == np.float32 and w.shape == (tile, tile)
    assert (w > 0).all()
    np.testing.assert_array_equal(w, w.T)
    np.testing.assert_array_equal(w, w[::-1])
    np.testing.assert_array_equal(w, w[:, ::-1])
    assert np.unravel_index(w.argmax(), w.shape) == ((tile - 1) // 2, (tile - 1) // 2)

    def g(d: float) -> float:  # σ = tile / 8
        return float(max(np.exp(-0.5 * (d / (tile / 8)) ** 2), 0.0))

    centre = (tile - 1) / 2
    expected = max(g(centre) * g(tile // 2 - centre), 1e-6)
    assert w[0, tile // 2] == pytest.approx(expected, rel=1e-5)
    if tile >= 64:
        assert w[0, 0] == pytest.approx(1e-6)  # the floor


def test_uniform_and_crop_centre_windows() -> None:
    np.testing.assert_array_equal(blend_window(8, 3, "uniform"), np.ones((8, 8)))
    c = blend_window(8, 3, "crop-centre")
    assert c.sum() == 25 and c[1:6, 1:6].all()
    with pytest.raises(ConfigError, match="window"):
        blend_window(8, 3, "hann")  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 9), lo=st.integers(-40, 0), hi=st.integers(1, 50))
def test_reflect_index_matches_numpy_pad(n: int, lo: int, hi: int) -> None:
    a = np.arange(n) * 10
    padded = np.pad(a, (-lo, hi), mode="reflect") if n > 1 else np.zeros(n + hi - lo, int)
    np.testing.assert_array_equal(a[reflect_index(np.arange(lo, n + hi), n)], padded)


@settings(max_examples=60, deadline=None)
@given(grid=grids(), data=st.data())
def test_read_region_holds_every_touching_tile_input(grid: TileGrid, data: st.DataObject) -> None:
    h, w = grid.shape
    depth = data.draw(st.integers(1, 6))
    context = data.draw(st.integers(0, 12))
    z_halo = data.draw(st.integers(0, 2))
    z0 = data.draw(st.integers(0, depth - 1))
    y0, x0 = data.draw(st.integers(0, h - 1)), data.draw(st.integers(0, w - 1))
    block = Box(
        (z0, y0, x0),
        (
            data.draw(st.integers(z0 + 1, depth)),
            data.draw(st.integers(y0 + 1, h)),
            data.draw(st.integers(x0 + 1, w)),
        ),
    )
    volume = (depth, h, w)
    for window in WINDOWS:
        region = read_region(
            block,
            grid,
            context=context,
            z_halo=z_halo,
            volume_shape=volume,
            window=window,  # type: ignore[arg-type]
        )
        assert Box.from_shape(volume).contains(region)
        assert region.contains(block)
        halo = derive_halo(grid.tile, grid.overlap, 1, context)
        assert block.grow((z_halo, halo, halo)).contains(region)
        assert region.start[0] == max(0, z0 - z_halo)
        assert region.stop[0] == min(depth, block.stop[0] + z_halo)
        for tile in grid.tiles_touching(y0, block.stop[1], x0, block.stop[2], window=window):  # type: ignore[arg-type]
            # the tile grown by the context, clipped to the volume, is inside the region
            grown = tile.box.grow(context).clip(Box.from_shape((h, w)))
            assert Box(region.start[1:], region.stop[1:]).contains(grown)
            rows, cols = tile_input_indices(tile, grid, context=context)
            assert region.start[1] <= rows.min() and rows.max() < region.stop[1]
            assert region.start[2] <= cols.min() and cols.max() < region.stop[2]


def test_grid_validation_names_the_problem() -> None:
    with pytest.raises(ConfigError, match="overlap"):
        TileGrid((10, 10), 8, 8)
    with pytest.raises(ConfigError, match="tile size"):
        TileGrid((10, 10), 0, 0)
    with pytest.raises(GeometryError, match="slice shape"):
        TileGrid((0, 10), 8, 2)
    grid = TileGrid((203, 157), 64, 16)
    with pytest.raises(GeometryError, match="not inside the volume"):
        read_region(
            Box((0, 0, 0), (1, 300, 10)), grid, context=0, z_halo=0, volume_shape=(5, 203, 157)
        )
    with pytest.raises(GeometryError, match="tile grid covers"):
        read_region(
            Box((0, 0, 0), (1, 10, 10)), grid, context=0, z_halo=0, volume_shape=(5, 203, 158)
        )


def test_grid_counts_on_an_awkward_shape() -> None:
    grid = TileGrid((203, 157), 64, 16)
    assert grid.grid_shape == (4, 3) and len(grid) == 12
    last = grid.tile_at((3, 2))
    assert (last.y0, last.x0) == (144, 96)
    assert last.owned == Box((152, 104), (203, 157))
    assert grid.tile_at((0, 0)).owned == Box((0, 0), (56, 56))
