"""Strict reads of stored chunks: a missing image chunk or a chunk that fails to decode is an
error naming the array and the chunk key (design invariants 6 and 8), never data."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any, Literal

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


#: What an array holds, for the strict reads: an image (every chunk stored: a missing one is
#: damage) or labels (chunks holding only background are not stored: a missing one is 0).
Kind = Literal["image", "labels"]

#: One axis of a basic selection: an index or a slice (step >= 1).
Index = int | slice


def _selection(key: Any, shape: tuple[int, ...]) -> tuple[Index, ...]:
    """``key`` as one int or slice per axis (an Ellipsis expanded, missing axes whole)."""
    key = key if isinstance(key, tuple) else (key,)
    if any(k is Ellipsis for k in key):
        at = next(i for i, k in enumerate(key) if k is Ellipsis)
        key = (*key[:at], *([slice(None)] * (len(shape) - len(key) + 1)), *key[at + 1 :])
    if len(key) > len(shape):
        raise IndexError(f"too many indices ({len(key)}) for an array of shape {shape}")
    key = (*key, *([slice(None)] * (len(shape) - len(key))))
    out: list[Index] = []
    for k, n in zip(key, shape, strict=True):
        if isinstance(k, slice):
            if k.step is not None and k.step < 1:
                raise IndexError(f"strict reads take slices with a positive step, got {k}")
            out.append(k)
        elif isinstance(k, int | np.integer):
            i = int(k) + n if int(k) < 0 else int(k)
            if not 0 <= i < n:
                raise IndexError(f"index {int(k)} is out of bounds for an axis of length {n}")
            out.append(i)
        else:
            raise IndexError(f"strict reads take integers and slices, got {type(k).__name__}")
    return tuple(out)


def chunks_selected(array: zarr.Array, key: Any) -> list[tuple[int, ...]]:
    """Grid coordinates of every stored chunk (or shard) a basic selection ``key`` reads
    (integers and slices, steps included), in C order."""
    grid = chunk_grid(array)
    axes: list[list[int]] = []
    for k, n, g in zip(_selection(key, tuple(array.shape)), array.shape, grid, strict=True):
        if isinstance(k, int):
            axes.append([k // g])
            continue
        start, stop, step = k.indices(n)
        if start >= stop:
            return []
        if step == 1:
            axes.append(list(range(start // g, math.ceil(stop / g))))
        else:
            axes.append(sorted({i // g for i in range(start, stop, step)}))
    return list(itertools.product(*axes))


def read_selection(
    array: zarr.Array, key: Any, *, kind: Kind = "image", fill_missing: bool = False
) -> np.ndarray:
    """``array[key]`` read strictly: a basic selection (integers and slices) of an image or
    a label array.

    Parameters
    ----------
    array
        A zarr v3 array.
    key
        Integers, slices with a positive step, an Ellipsis; one per axis at most.
    kind
        ``"image"``: every chunk the selection reads must be stored (volseg writes every
        image chunk, so a missing one is damage). ``"labels"``: a missing chunk is
        background (the fill value), as label writers omit all-background chunks.
    fill_missing
        Read a missing image chunk as the fill value, for a foreign store whose writer
        omits chunks that hold only the fill value. Decode failures are errors regardless.

    Returns
    -------
    numpy.ndarray
        What ``array[key]`` returns.

    Raises
    ------
    MissingChunkError
        An image chunk the selection reads is not stored (and ``fill_missing`` is false);
        the message names the first such chunk in C order.
    CorruptChunkError
        A chunk the selection reads fails its checksum or cannot be decoded; the message
        names the first such chunk in C order.
    """
    what = f"{kind} chunk"
    chunks = chunks_selected(array, key)
    if kind == "image" and not fill_missing:
        for coords in chunks:
            if not chunk_exists(array, coords):
                raise MissingChunkError(
                    f"{what} {chunk_key(array, coords)} of {array_location(array)} is "
                    f"missing: {RESTORE}; for a foreign store that omits chunks holding only "
                    "the fill value, run with --fill-missing"
                )
    try:
        return np.asarray(array[key])
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception:
        # Find the culprit: the chunks one by one (the error of a whole read names none).
        for coords in chunks:
            read_chunk(array, coords, what=what)
        raise  # no single chunk fails on its own: not a chunk's damage


def read_box(array: zarr.Array, box: Box, *, fill_missing: bool = False) -> np.ndarray:
    """The voxels of image array ``array`` in ``box``, read strictly.

    Every chunk the box touches must be stored: volseg writes every image chunk, so a
    missing one is damage, not background (label arrays, whose absent chunks are
    background, are read with :func:`read_selection`, ``kind="labels"``, or through
    :class:`~volseg.io.StrictArray`). A chunk that fails its checksum or cannot be decoded
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
    return read_selection(array, box.slices, kind="image", fill_missing=fill_missing)
