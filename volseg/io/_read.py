"""Strict reads of stored chunks: a missing image chunk or a chunk that fails to decode is an
error naming the array and the chunk key (design invariants 6 and 8), never data."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import zarr
from zarr.core.sync import sync
from zarr.storage import LocalStore

from volseg.errors import CorruptChunkError, MissingChunkError
from volseg.geometry import Box

#: How to fix a damaged chunk; the same advice from every reader.
RESTORE = "restore it from a copy (or re-run the step that wrote it); 'volseg verify' lists all"


def array_location(array: zarr.Array) -> str:
    """Where ``array`` lives, for messages: a local path when it is on disk, else its URL."""
    store = array.store
    if isinstance(store, LocalStore):
        return str(Path(store.root) / array.path) if array.path else str(store.root)
    return str(array.store_path)


def chunk_grid(array: zarr.Array) -> tuple[int, ...]:
    """The shape of one stored object (a shard if the array is sharded, else a chunk)."""
    return tuple(array.shards or array.chunks)


def chunk_key(array: zarr.Array, coords: tuple[int, ...]) -> str:
    """The key of the stored chunk (or shard) at grid ``coords``, relative to the array."""
    return str(array.metadata.encode_chunk_key(coords))


def chunk_box(array: zarr.Array, coords: tuple[int, ...]) -> Box:
    """The voxels of the chunk (or shard) at grid ``coords``, clipped to the array."""
    grid = chunk_grid(array)
    start = tuple(c * g for c, g in zip(coords, grid, strict=True))
    stop = tuple(min(s + g, n) for s, g, n in zip(start, grid, array.shape, strict=True))
    return Box(start, stop)


def chunks_touching(array: zarr.Array, box: Box) -> Iterator[tuple[int, ...]]:
    """Grid coordinates of every stored chunk (or shard) ``box`` touches, in C order."""
    grid = chunk_grid(array)
    ranges = [
        range(a // g, math.ceil(b / g)) for a, b, g in zip(box.start, box.stop, grid, strict=True)
    ]
    return itertools.product(*ranges)


def chunk_exists(array: zarr.Array, coords: tuple[int, ...]) -> bool:
    """Whether the chunk (or shard) at grid ``coords`` is stored."""
    key = chunk_key(array, coords)
    full = f"{array.path}/{key}" if array.path else key
    return bool(sync(array.store.exists(full)))


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    if "checksum" in str(exc).lower():
        return "checksum mismatch"
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def corrupt_chunk(
    array: zarr.Array, coords: tuple[int, ...], exc: BaseException, *, what: str = "chunk"
) -> str:
    """The one-line message for a chunk that failed to decode."""
    return (
        f"{what} {chunk_key(array, coords)} of {array_location(array)} is corrupt "
        f"({_reason(exc)}): {RESTORE}"
    )


def read_chunk(array: zarr.Array, coords: tuple[int, ...], *, what: str = "chunk") -> np.ndarray:
    """The voxels of one stored chunk (or shard), decoded.

    Raises
    ------
    CorruptChunkError
        The chunk fails its checksum or cannot be decoded.
    """
    try:
        return np.asarray(array[chunk_box(array, coords).slices])
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise CorruptChunkError(corrupt_chunk(array, coords, exc, what=what)) from exc


def read_box(array: zarr.Array, box: Box, *, fill_missing: bool = False) -> np.ndarray:
    """The voxels of image array ``array`` in ``box``, read strictly.

    Every chunk the box touches must be stored: volseg writes every image chunk, so a
    missing one is damage, not background (label arrays, whose absent chunks are
    background, are read directly). A chunk that fails its checksum or cannot be decoded
    is an error naming its key.

    Parameters
    ----------
    array
        An image array (zarr v3).
    box
        The voxels to read, inside the array.
    fill_missing
        Read a missing chunk as the array's fill value: for a foreign store whose writer
        omits chunks that hold only the fill value. Decode failures are errors regardless.

    Returns
    -------
    numpy.ndarray
        The voxels, of shape ``box.shape``.

    Raises
    ------
    MissingChunkError
        A chunk the box touches is not stored (and ``fill_missing`` is false).
    CorruptChunkError
        A chunk the box touches fails its checksum or cannot be decoded; the message names
        the first such chunk in C order.
    """
    if not fill_missing:
        for coords in chunks_touching(array, box):
            if not chunk_exists(array, coords):
                raise MissingChunkError(
                    f"image chunk {chunk_key(array, coords)} of {array_location(array)} is "
                    f"missing: {RESTORE}; for a foreign store that omits chunks holding only "
                    "the fill value, run with --fill-missing"
                )
    try:
        return np.asarray(array[box.slices])
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception:
        # Find the culprit: the chunks one by one (the error of a whole read names none).
        for coords in chunks_touching(array, box):
            read_chunk(array, coords, what="image chunk")
        raise  # no single chunk fails on its own: not a chunk's damage
