"""The block plan of a run: chunk-aligned blocks, one owner per output chunk."""

from __future__ import annotations

from collections.abc import Sequence

from volseg.errors import GeometryError
from volseg.geometry import BlockGrid, check_chunk_aligned

#: Work per block the default plan aims for: 64 MiB of float32 (16 Mi voxels).
TARGET_BLOCK_BYTES = 64 * 2**20

_AXES = "zyx"


def _axis_name(axis: int, ndim: int) -> str:
    return _AXES[axis] if ndim == 3 else f"axis {axis}"


def default_block_shape(
    shape: Sequence[int],
    chunks: Sequence[int],
    *,
    target_bytes: int = TARGET_BLOCK_BYTES,
    bytes_per_voxel: int = 4,
) -> tuple[int, ...]:
    """A block shape of whole chunks holding about ``target_bytes`` of work.

    The rule: one chunk deep on the first (z) axis, then the last two axes (y, x) grow one
    chunk at a time, the shorter one first, until the block holds ``target_bytes /
    bytes_per_voxel`` voxels or covers the volume. Blocks stay thin in z because tiles are
    2D slabs; in y/x they are large so the halo re-read at block borders stays a small
    fraction of the work.

    Examples
    --------
    >>> default_block_shape((1800, 2300, 1920), (16, 512, 512))
    (16, 1024, 1024)
    >>> default_block_shape((4, 100, 100), (2, 32, 32))
    (2, 128, 128)
    """
    shape = tuple(int(s) for s in shape)
    chunks = tuple(int(c) for c in chunks)
    block = list(chunks)
    limit = max(1, target_bytes // max(1, bytes_per_voxel))
    grow = list(range(1, len(shape))) if len(shape) > 1 else [0]

    def voxels() -> int:
        n = 1
        for b in block:
            n *= b
        return n

    while voxels() < limit:
        open_axes = [a for a in grow if block[a] < shape[a]]
        if not open_axes:
            break
        axis = min(open_axes, key=lambda a: (block[a], a))
        block[axis] += chunks[axis]
    return tuple(block)


def plan_blocks(
    shape: Sequence[int],
    chunks: Sequence[int],
    block_shape: Sequence[int] | None = None,
    *,
    target_bytes: int = TARGET_BLOCK_BYTES,
    bytes_per_voxel: int = 4,
) -> BlockGrid:
    """The grid of blocks a run executes, checked so that every output chunk has one owner.

    Parameters
    ----------
    shape
        Shape of the output array.
    chunks
        Its chunk shape — or its *shard* shape when the array is sharded, since a shard is
        the unit two writers must not share.
    block_shape
        Voxels per block. Each axis must be a multiple of the chunk size there, or cover the
        whole axis. ``None`` derives one with :func:`default_block_shape` (one chunk deep
        in z, y/x grown to about ``target_bytes`` of ``bytes_per_voxel`` work).
    target_bytes, bytes_per_voxel
        The work per block the derived shape aims for (64 MiB of float32 by default).

    Returns
    -------
    BlockGrid
        Blocks with deterministic ids; edge blocks are clipped to the volume.

    Raises
    ------
    GeometryError
        Shapes of different lengths, non-positive chunks, or a block shape that is not a
        whole number of chunks (the message names the axis and the sizes that would fit).
        Raised before anything is written.

    Examples
    --------
    >>> plan_blocks((10, 100, 100), (2, 32, 32), (2, 64, 64)).grid_shape
    (5, 2, 2)
    """
    shape = tuple(int(s) for s in shape)
    chunks = tuple(int(c) for c in chunks)
    if len(chunks) != len(shape):
        raise GeometryError(f"chunks {chunks} and volume shape {shape} differ in dimensions")
    if any(c <= 0 for c in chunks):
        raise GeometryError(f"chunks {chunks} must be positive on every axis")
    if block_shape is None:
        block = default_block_shape(
            shape, chunks, target_bytes=target_bytes, bytes_per_voxel=bytes_per_voxel
        )
    else:
        block = tuple(int(b) for b in block_shape)
        if len(block) != len(shape):
            raise GeometryError(
                f"block shape {block} and volume shape {shape} differ in dimensions"
            )
    for axis, (b, c, s) in enumerate(zip(block, chunks, shape, strict=True)):
        if b <= 0:
            raise GeometryError(f"block shape {block} must be positive on every axis")
        if b % c != 0 and b < s:
            lower = max(c, b // c * c)
            raise GeometryError(
                f"block size {b} on axis {_axis_name(axis, len(shape))} is not a multiple of "
                f"the chunk size {c} there, so two blocks would write one chunk; use "
                f"{lower} or {lower + c} (block shape {block}, chunks {chunks})"
            )
    grid = BlockGrid(shape, block)
    # One owner per chunk follows from the check above, but verify every block anyway: this
    # is the invariant that keeps concurrent writers from losing data.
    for blk in grid:
        check_chunk_aligned(blk.box, chunks, shape)
    return grid
