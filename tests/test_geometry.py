from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from volseg.errors import GeometryError
from volseg.geometry import BlockGrid, Box, check_chunk_aligned

shapes = st.tuples(*[st.integers(1, 40)] * 3)
blocks = st.tuples(*[st.integers(1, 17)] * 3)


@settings(max_examples=60, deadline=None)
@given(shape=shapes, block=blocks)
def test_block_grid_covers_every_voxel_exactly_once(shape, block):
    grid = BlockGrid(shape, block)
    cover = np.zeros(shape, np.int32)
    for b in grid:
        cover[b.box.slices] += 1
    assert (cover == 1).all()
    assert sum(b.box.size for b in grid) == np.prod(shape)


@settings(max_examples=60, deadline=None)
@given(shape=shapes, block=blocks)
def test_block_ids_are_deterministic_and_invertible(shape, block):
    grid = BlockGrid(shape, block)
    ids = [b.id for b in grid]
    assert ids == list(range(len(grid)))
    for b in grid:
        assert grid.block_at(b.index) == b
        assert BlockGrid(shape, block).block(b.id) == b


@settings(max_examples=60, deadline=None)
@given(shape=shapes, block=blocks, a=shapes, b=shapes)
def test_blocks_touching_matches_brute_force(shape, block, a, b):
    grid = BlockGrid(shape, block)
    start = tuple(min(x, y) - 3 for x, y in zip(a, b, strict=True))
    stop = tuple(max(x, y) for x, y in zip(a, b, strict=True))
    query = Box(start, stop)
    expected = [blk for blk in grid if blk.box.intersects(query)]
    assert grid.blocks_touching(query) == expected


@settings(max_examples=80, deadline=None)
@given(a=shapes, b=shapes, off=shapes)
def test_intersection_is_commutative_and_inside_both(a, b, off):
    x, y = Box.from_shape(a), Box.from_shape(b, off)
    i = x.intersect(y)
    assert i == y.intersect(x)
    if not i.empty:
        assert x.contains(i) and y.contains(i)
    mask = np.zeros((80, 80, 80), bool)
    mask[x.slices] = True
    other = np.zeros_like(mask)
    other[y.slices] = True
    assert (mask & other).sum() == i.size


def test_box_grow_clip_and_relative_slices():
    box = Box((2, 10, 20), (4, 30, 25))
    assert box.shape == (2, 20, 5)
    halo = box.grow(3).clip(Box.from_shape((5, 64, 64)))
    assert halo == Box((0, 7, 17), (5, 33, 28))
    assert box.relative_to(halo) == (slice(2, 4), slice(3, 23), slice(3, 8))
    with pytest.raises(GeometryError, match="is not inside"):
        halo.relative_to(box)


def test_grid_rejects_bad_shapes_with_clear_errors():
    with pytest.raises(GeometryError, match=r"block shape .* must be positive"):
        BlockGrid((4, 4, 4), (0, 2, 2))
    with pytest.raises(GeometryError, match="differ in dimensions"):
        BlockGrid((4, 4), (2, 2, 2))
    with pytest.raises(GeometryError, match="outside the grid"):
        BlockGrid((4, 4, 4), (2, 2, 2)).block(8)
    with pytest.raises(ValueError, match="integers"):
        Box((0.5, 0, 0), (1, 1, 1))


def test_block_names_are_readable():
    assert BlockGrid((4, 4, 4), (2, 2, 2)).block(5).name == "block 5 (z1 y0 x1)"


@pytest.mark.parametrize(
    ("box", "ok"),
    [
        (Box((0, 0, 0), (16, 512, 512)), True),
        (Box((16, 512, 0), (20, 700, 512)), True),  # ends at the array end
        (Box((0, 0, 0), (8, 512, 512)), False),
        (Box((0, 256, 0), (16, 512, 512)), False),
    ],
)
def test_chunk_alignment_check(box, ok):
    if ok:
        check_chunk_aligned(box, (16, 512, 512), (20, 700, 900))
    else:
        with pytest.raises(GeometryError, match="axis"):
            check_chunk_aligned(box, (16, 512, 512), (20, 700, 900))


def test_every_block_of_a_chunk_grid_is_chunk_aligned():
    shape, chunks = (37, 100, 61), (8, 32, 16)
    for blk in BlockGrid(shape, tuple(2 * c for c in chunks)):
        check_chunk_aligned(blk.box, chunks, shape)
    assert len(list(itertools.islice(BlockGrid(shape, chunks), 3))) == 3


def test_union_is_the_smallest_box_holding_both():
    a, b = Box((0, 5, 2), (3, 9, 4)), Box((2, 1, 3), (6, 6, 10))
    u = a.union(b)
    assert u == Box((0, 1, 2), (6, 9, 10))
    assert u.contains(a) and u.contains(b) and b.union(a) == u
    with pytest.raises(GeometryError):
        a.union(Box((0, 0), (1, 1)))
