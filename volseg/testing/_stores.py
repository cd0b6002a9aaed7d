"""Small complete stores with given labels, for tests of jobs that read a segmentation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from volseg.io import VolumeStore, build_pyramid


def write_labels_store(
    path: str | Path,
    labels: np.ndarray,
    *,
    classes: Sequence[str],
    image: np.ndarray | None = None,
    voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
    chunks: Sequence[int] | None = None,
    levels: int = 1,
    complete: bool = True,
) -> Path:
    """A uint8 store holding ``image`` (default: a deterministic ramp) and ``labels`` as
    ``labels/segmentation`` with class names ``classes``; marked complete unless
    ``complete`` is false."""
    store = VolumeStore.create(
        path,
        shape=labels.shape,
        dtype="uint8",
        chunks=chunks,
        voxel_size=voxel_size,
        levels=levels,
    )
    if image is None:
        image = (np.arange(labels.size) % 251).reshape(labels.shape).astype(np.uint8)
    store.image(0)[:] = image
    store.create_labels("segmentation", classes=list(classes))[:] = labels
    if levels > 1:
        build_pyramid(store, progress=False)
    if complete:
        store.mark_complete()
    return Path(path)
