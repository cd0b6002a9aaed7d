"""Downsampled pyramid levels for viewing, built chunk by chunk from the level above."""

from __future__ import annotations

from collections.abc import Sequence

import dask
import numpy as np
import zarr

from volseg.errors import InvalidStoreError
from volseg.geometry import BlockGrid, Box
from volseg.io._read import read_selection
from volseg.io._store import VolumeStore
from volseg.runtime import run_tasks


def downsample(block: np.ndarray, factor: tuple[int, ...], *, labels: bool) -> np.ndarray:
    """Downsample by integer ``factor``: block mean for images, the first voxel for labels.

    Trailing voxels that do not fill a whole block are dropped (``shape // factor``).
    """
    out_shape = tuple(s // f for s, f in zip(block.shape, factor, strict=True))
    trimmed = block[tuple(slice(0, o * f) for o, f in zip(out_shape, factor, strict=True))]
    if labels:
        return np.ascontiguousarray(trimmed[tuple(slice(None, None, f) for f in factor)])
    shaped = trimmed.reshape(
        tuple(x for o, f in zip(out_shape, factor, strict=True) for x in (o, f))
    )
    mean = shaped.mean(axis=(1, 3, 5), dtype=np.float64)
    if block.dtype.kind in "ui":
        mean = np.rint(mean)
    return mean.astype(block.dtype)


def _level_task(
    src: zarr.Array, dst: zarr.Array, box: Box, factor: tuple[int, ...], labels: bool
) -> None:
    src_box = Box(
        tuple(a * f for a, f in zip(box.start, factor, strict=True)),
        tuple(b * f for b, f in zip(box.stop, factor, strict=True)),
    )
    # strict: a damaged chunk of the level above is an error naming it, never a new level
    data = read_selection(src, src_box.slices, kind="labels" if labels else "image")
    dst[box.slices] = downsample(data, factor, labels=labels)


def build_pyramid(
    store: VolumeStore,
    *,
    labels: Sequence[str] | None = None,
    image: bool = True,
    num_workers: int | None = None,
    progress: bool = True,
) -> None:
    """Fill levels 1.. of the image and of every label image from the level above.

    Each task writes exactly one destination chunk, reading the matching region of the
    level above, so memory stays at a few chunks per worker. ``labels`` (default: all label
    images) and ``image`` choose what is built, e.g. only a new segmentation's levels.
    """
    names = store.label_names if labels is None else list(labels)
    arrays: list[tuple[str, bool]] = [("", False)] if image else []
    arrays += [(f"labels/{n}/", True) for n in names]
    for level in range(1, store.levels):
        tasks = []
        for prefix, is_labels in arrays:
            src = store.group[f"{prefix}{level - 1}"]
            dst = store.group[f"{prefix}{level}"]
            if not (isinstance(src, zarr.Array) and isinstance(dst, zarr.Array)):
                raise InvalidStoreError(f"{store.path}: level {prefix}{level} is not an array")
            if not is_labels:
                dst = store.image(level)  # every image chunk stored, all-zero ones too
            factor = tuple(2 if s > 1 else 1 for s in src.shape)
            for block in BlockGrid(dst.shape, dst.chunks):
                tasks.append(dask.delayed(_level_task)(src, dst, block.box, factor, is_labels))
        run_tasks(
            tasks, description=f"pyramid level {level}", num_workers=num_workers, progress=progress
        )
