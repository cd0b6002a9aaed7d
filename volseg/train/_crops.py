"""Random training crops: N square crops of size S drawn from the annotated slices.

As in the study that chooses how to train the network, a training set is ``count`` random
crops of ``size`` px (from about 100 px up to the whole slice), reproducible from a seed; a
full-image mode trains on the whole slices instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from volseg.errors import ConfigError, InputError
from volseg.train._data import SliceSet


@dataclass(frozen=True)
class CropSpec:
    """One crop: slice ``index``, top-left corner ``(y, x)`` and side ``size`` in pixels.

    ``width`` is ``None`` for square crops. Only the full-image mode of :func:`sample_crops`
    sets it, for non-square slices: the crop is then ``size`` (height) × ``width``.
    """

    index: int
    y: int
    x: int
    size: int
    width: int | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the crop."""
        return (self.size, self.size if self.width is None else self.width)


def sample_crops(
    shapes: Sequence[tuple[int, int]], *, size: int | None, count: int, seed: int
) -> list[CropSpec]:
    """Draw ``count`` random square crops of side ``size`` from slices of ``shapes``.

    Every valid crop position of every slice is equally likely: a slice is drawn with
    probability proportional to its number of positions ``(H - size + 1) (W - size + 1)``
    and then a position uniformly within it (one exact integer draw over all positions).

    Parameters
    ----------
    shapes
        ``(H, W)`` of each slice (e.g. :attr:`SliceSet.shapes`).
    size
        Crop side in pixels; ``None`` is the full-image mode: ``count`` crops that each
        cover a whole slice, the slices in turn (slice ``i % len(shapes)`` for crop ``i``).
    count
        Number of crops, at least 1.
    seed
        Seed of the draw: the same inputs and seed give the same crops on every machine.

    Returns
    -------
    list of CropSpec
        In draw order.

    Raises
    ------
    ConfigError
        ``size`` < 1 or larger than a slice (the message names the slice and its shape),
        ``count`` < 1, a negative seed, or no slices.
    """
    shapes = [(int(h), int(w)) for h, w in shapes]
    if int(seed) != seed or seed < 0:
        raise ConfigError(f"crop seed must be a non-negative integer, got {seed}")
    if not shapes:
        raise ConfigError("no slices to crop from; give at least one annotated slice")
    if int(count) != count or count < 1:
        raise ConfigError(f"crop count must be a positive integer, got {count}")
    if size is None:
        return [
            CropSpec(index=i % len(shapes), y=0, x=0, size=h, width=None if h == w else w)
            for i, (h, w) in ((i, shapes[i % len(shapes)]) for i in range(int(count)))
        ]
    if int(size) != size or size < 1:
        raise ConfigError(f"crop size must be a positive integer number of pixels, got {size}")
    size, count = int(size), int(count)
    for i, (h, w) in enumerate(shapes):
        if size > min(h, w):
            raise ConfigError(
                f"crop size {size} px is larger than slice {i} of shape {h} x {w} (H x W); "
                f"use a crop size of at most {min(min(s) for s in shapes)} px, or size=None to "
                "train on whole slices"
            )
    cols = np.array([w - size + 1 for _, w in shapes], dtype=np.int64)
    positions = np.array([h - size + 1 for h, _ in shapes], dtype=np.int64) * cols
    ends = np.cumsum(positions)
    rng = np.random.default_rng(seed)
    flat = rng.integers(0, int(ends[-1]), size=count, dtype=np.int64)
    index = np.searchsorted(ends, flat, side="right")
    local = flat - (ends[index] - positions[index])
    ys, xs = np.divmod(local, cols[index])
    return [
        CropSpec(index=int(i), y=int(y), x=int(x), size=size)
        for i, y, x in zip(index, ys, xs, strict=True)
    ]


def extract(set: SliceSet, spec: CropSpec) -> tuple[np.ndarray, np.ndarray]:
    """Copy the crop ``spec`` out of ``set``.

    Returns
    -------
    image, label
        ``image`` float32 ``(h, w)`` or ``(C, h, w)``, ``label`` uint8 ``(h, w)``; fresh
        contiguous arrays (safe to modify).

    Raises
    ------
    InputError
        A slice index or crop window outside ``set`` (e.g. crops drawn for other slices).
    """
    window = check_crop(set, spec)
    image = set.images[spec.index][(..., *window)]
    label = set.labels[spec.index][window]
    return np.array(image, dtype=np.float32, order="C"), np.array(label, order="C")


def check_crop(set: SliceSet, spec: CropSpec) -> tuple[slice, slice]:
    """The ``(rows, columns)`` window of ``spec`` in ``set``; InputError if it does not fit."""
    if not 0 <= spec.index < len(set):
        raise InputError(
            f"crop {spec} names slice {spec.index} but {set.source} has {len(set)} slices; "
            "draw the crops from this set's shapes"
        )
    h, w = spec.shape
    shape = set.labels[spec.index].shape
    if min(spec.y, spec.x) < 0 or min(h, w) < 1 or spec.y + h > shape[0] or spec.x + w > shape[1]:
        raise InputError(
            f"crop {spec} does not fit slice {set.names[spec.index]} of shape {shape}; "
            "draw the crops from this set's shapes"
        )
    return slice(spec.y, spec.y + h), slice(spec.x, spec.x + w)
