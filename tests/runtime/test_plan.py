"""plan_blocks: chunk-aligned blocks, one owner per output chunk, checked before any write."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from volseg.errors import GeometryError
from volseg.runtime import TARGET_BLOCK_BYTES, default_block_shape, plan_blocks


def owners(shape, chunks, grid) -> Counter[tuple[int, ...]]:
    """How many blocks write each chunk of the array."""
    count: Counter[tuple[int, ...]] = Counter()
    for block in grid:
        ranges = [
            range(a // c, -(-b // c))
            for a, b, c in zip(block.box.start, block.box.stop, chunks, strict=True)
        ]
        count.update(itertools.product(*ranges))
    return count


@settings(max_examples=60, deadline=None)
@given(
    shape=st.tuples(*[st.integers(1, 40)] * 3),
    chunks=st.tuples(*[st.integers(1, 9)] * 3),
    mult=st.tuples(*[st.integers(1, 4)] * 3),
)
def test_every_chunk_has_exactly_one_owner(shape, chunks, mult) -> None:
    block = tuple(c * m for c, m in zip(chunks, mult, strict=True))
    grid = plan_blocks(shape, chunks, block)
    count = owners(shape, chunks, grid)
    n_chunks = [-(-s // c) for s, c in zip(shape, chunks, strict=True)]
    assert set(count) == set(itertools.product(*map(range, n_chunks)))
    assert set(count.values()) == {1}
    assert sum(b.box.size for b in grid) == shape[0] * shape[1] * shape[2]


def test_block_not_a_multiple_of_the_chunks_names_the_axis() -> None:
    with pytest.raises(GeometryError, match=r"block size 20 on axis y .* chunk size 16.*16 or 32"):
        plan_blocks((64, 512, 512), (16, 16, 16), (16, 20, 32))
    with pytest.raises(GeometryError, match=r"axis x"):
        plan_blocks((64, 512, 512), (16, 16, 16), (16, 32, 8))


def test_a_block_covering_a_whole_axis_needs_no_multiple() -> None:
    # 50 is not a multiple of 16, but one block spans all of x: it owns every chunk there.
    grid = plan_blocks((8, 64, 50), (4, 16, 16), (4, 32, 50))
    assert grid.grid_shape == (2, 2, 1)


def test_dimension_and_chunk_errors() -> None:
    with pytest.raises(GeometryError, match="differ in dimensions"):
        plan_blocks((8, 64, 64), (4, 16))
    with pytest.raises(GeometryError, match="positive"):
        plan_blocks((8, 64, 64), (4, 0, 16))


def test_default_block_shape_is_one_chunk_deep_and_about_64_mib_of_float32() -> None:
    shape, chunks = (1800, 2300, 1920), (16, 512, 512)
    block = default_block_shape(shape, chunks)
    assert block == (16, 1024, 1024)
    assert block[0] * block[1] * block[2] * 4 == TARGET_BLOCK_BYTES
    grid = plan_blocks(shape, chunks)
    assert grid.block_shape == block
    assert grid.grid_shape == (113, 3, 2)
    # a small volume: one block covers y/x entirely
    assert plan_blocks((4, 100, 90), (2, 32, 32)).grid_shape == (2, 1, 1)
    # a smaller target grows y/x less
    assert default_block_shape(shape, chunks, target_bytes=16 * 2**20) == (16, 512, 512)
