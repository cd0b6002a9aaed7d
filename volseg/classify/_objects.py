"""One dask task measures a group of objects: read, cut at necks, measure each piece.

:class:`ObjectTask` reads each object's bounding box (a group of nearby objects reads one
region once; an object above ``max_voxels`` is read block-any downsampled, slab by slab, so
memory stays bounded), cuts it at its necks (:func:`split_object`) and measures every piece
(:func:`piece_features`). With ground truth it also counts the truth classes under each
piece on the annotated slices, for training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage as ndi

from volseg._files import write_atomically
from volseg.classify._features import piece_features
from volseg.classify._options import ObjectOptions
from volseg.classify._split import object_distance, split_object
from volseg.geometry import Block, Box
from volseg.io import StrictArray
from volseg.reconstruct._sampling import read_sampled_mask

__all__ = ["GROUP_VOXELS", "PLACEMENT", "ObjectPieces", "ObjectTask", "piece_map_path"]

_BBOX = ("bbox_z0", "bbox_y0", "bbox_x0", "bbox_z1", "bbox_y1", "bbox_x1")
#: Where each piece is: voxel count, centroid (µm), bounding box (voxels, end exclusive).
PLACEMENT = ("voxels", "centroid_z_um", "centroid_y_um", "centroid_x_um", *_BBOX)


@dataclass(frozen=True)
class ObjectPieces:
    """What :class:`ObjectTask` found in one object: its pieces' features (one dict each)
    and the truth class counts under each piece (``(n, len(truth_ids))``, or None). A cut
    object's piece map (at :func:`piece_map_path`) is on the grid of its mask: ``start``
    (voxels) and downsampling ``factor``."""

    object_id: int
    features: list[dict[str, float]]
    truth_counts: npt.NDArray[np.int64] | None
    start: tuple[int, int, int]
    factor: tuple[int, int, int]

    @property
    def n(self) -> int:
        return len(self.features)


def piece_map_path(work: str | Path, object_id: int) -> Path:
    """Where the piece map of cut object ``object_id`` is kept during a run."""
    return Path(work) / "pieces" / f"object_{object_id}.npy"


def _read_sampled_image(
    image: Any, box: Box, factor: tuple[int, int, int]
) -> npt.NDArray[np.float32]:
    """``image[box]`` block-mean reduced by ``factor``, read slab by slab."""
    if factor == (1, 1, 1):
        return np.asarray(image[box.slices], dtype=np.float32)
    fz, fy, fx = factor
    planes = []
    for z0 in range(box.start[0], box.stop[0], fz * 8):
        z1 = min(z0 + fz * 8, box.stop[0])
        slab = np.asarray(image[z0:z1, box.slices[1], box.slices[2]], dtype=np.float32)
        pad = [(0, -s % f) for s, f in zip(slab.shape, factor, strict=True)]
        count = np.pad(np.ones(slab.shape, np.float32), pad)
        slab = np.pad(slab, pad)
        shape = (slab.shape[0] // fz, fz, slab.shape[1] // fy, fy, slab.shape[2] // fx, fx)
        total = slab.reshape(shape).sum(axis=(1, 3, 5))
        planes.append(total / count.reshape(shape).sum(axis=(1, 3, 5)))
    return np.concatenate(planes, axis=0)


def _placement(
    mask: npt.NDArray[np.bool_],
    start: Sequence[int],
    factor: tuple[int, int, int],
    voxel_size: Sequence[float],
    shape: Sequence[int],
) -> dict[str, float]:
    """Voxels, centroid (µm) and bounding box (voxel indices, end exclusive) of a piece;
    exact at factor 1, else at the resolution of the coarse voxels."""
    coords = np.argwhere(mask)
    if len(coords) == 0:  # a piece of cavity only: placed, but with no voxels of its own
        return {name: 0.0 for name in PLACEMENT}
    f = np.asarray(factor)
    s = np.asarray(start)
    centre = (s + coords.mean(axis=0) * f + (f - 1) / 2) * np.asarray(voxel_size)
    lo = s + coords.min(axis=0) * f
    hi = np.minimum(s + (coords.max(axis=0) + 1) * f, np.asarray(shape))
    out: dict[str, float] = {"voxels": float(len(coords) * f.prod())}
    out |= {f"centroid_{a}_um": float(c) for a, c in zip("zyx", centre, strict=True)}
    out |= {name: float(v) for name, v in zip(_BBOX, [*lo, *hi], strict=True)}
    return out


def _sampled(array: Any, box: Box, factor: tuple[int, int, int]) -> npt.NDArray[Any]:
    """``array`` over ``box`` at the first voxel of each coarse voxel (all voxels at factor
    1): the coarse grid of :func:`read_sampled_mask`."""
    return np.asarray(
        array[tuple(slice(s, e, f) for s, e, f in zip(box.start, box.stop, factor, strict=True))]
    )


class _Shifted:
    """A crop of a volume held in memory and indexed in volume coordinates (slices with
    explicit bounds, or integers), so that the objects of a group read one region once."""

    def __init__(self, data: npt.NDArray[Any], start: Sequence[int], shape: Sequence[int]):
        self.data, self.start, self.shape = data, tuple(start), tuple(shape)
        self.dtype = data.dtype

    def __getitem__(self, key: tuple[slice | int, ...]) -> npt.NDArray[Any]:
        local: list[slice | int] = []
        for k, s in zip(key, self.start, strict=True):
            if isinstance(k, slice):
                local.append(slice(k.start - s, k.stop - s, k.step))
            else:
                local.append(int(k) - s)
        return self.data[tuple(local)]


#: A group of objects shares one read while the box around them holds at most this many
#: voxels (per array; ~64 MiB for the four arrays of a group at most).
GROUP_VOXELS = 2**24


@dataclass(frozen=True)
class ObjectTask:
    """Cut and measure a group of objects (a dask task; small and picklable). Its arrays
    are read strictly (:class:`~volseg.io.StrictArray`): a damaged chunk is an error
    naming its key.

    ``truth``/``truth_ids``: ground-truth class labels and the values to count (background
    first); ``annotated``: the annotated slices (None: every slice).
    """

    components: StrictArray
    image: StrictArray
    voxel_size: tuple[float, float, float]
    work: str
    options: ObjectOptions = field(default_factory=ObjectOptions)
    truth: StrictArray | None = None
    truth_ids: tuple[int, ...] = ()
    annotated: tuple[int, ...] | None = None
    labels: StrictArray | None = None
    vote: int | None = None

    def __call__(self, block: Block, objects: Sequence[tuple[int, Box]]) -> list[ObjectPieces]:
        """Measure ``objects`` (id, bounding box); a group (``block.box`` around their
        grown boxes) is read once into memory, a single object straight from the arrays."""
        arrays: dict[str, Any] = {
            "components": self.components,
            "image": self.image,
            "labels": self.labels,
            "truth": self.truth,
        }
        if len(objects) > 1:
            region = block.box
            shape = self.components.shape
            arrays = {
                name: None
                if array is None
                else _Shifted(np.asarray(array[region.slices]), region.start, shape)
                for name, array in arrays.items()
            }
        return [self._one(object_id, box, arrays) for object_id, box in objects]

    def _one(self, object_id: int, bbox: Box, arrays: dict[str, Any]) -> ObjectPieces:
        shape = self.components.shape
        box = bbox.grow(1).clip(Box.from_shape(shape))
        sampled = read_sampled_mask(
            arrays["components"],
            box,
            object_id,
            voxel_size=self.voxel_size,
            max_voxels=self.options.max_voxels,
        )
        factor = sampled.factor
        # a cavity inside an object is part of it (a soma whose darker nucleus was not
        # segmented is a shell, whose skeleton and distances would describe a surface)
        mask = ndi.binary_fill_holes(sampled.mask)
        image = _read_sampled_image(arrays["image"], box, factor)
        labels = None if self.labels is None else _sampled(arrays["labels"], box, factor)
        distance = object_distance(mask, sampled.voxel_size)
        if self.options.split:
            ratio = self.options.neck_ratio
            pieces, n = split_object(
                mask, voxel_size=sampled.voxel_size, neck_ratio=ratio, distance=distance
            )
        else:
            pieces, n = mask.astype(np.int32), 1
        border = [(box.start[a] == 0, box.stop[a] == shape[a]) for a in range(3)]
        own = np.where(sampled.mask, pieces, 0)  # the object's voxels, cavities left out
        features = [
            _placement(own == k, box.start, factor, self.voxel_size, shape)
            | piece_features(
                pieces == k,
                image,
                voxel_size=sampled.voxel_size,
                origin_um=sampled.origin_um,
                border=border,
                labels=labels,
                vote=self.vote,
                distance=distance if n == 1 else None,  # a cut piece has new surfaces
            )
            for k in range(1, n + 1)
        ]
        if n > 1:
            write_atomically(piece_map_path(self.work, object_id), lambda f: np.save(f, pieces))
        counts = (
            None
            if self.truth is None
            else self._truth_counts(arrays, box, factor, pieces, own, object_id)
        )
        start = (box.start[0], box.start[1], box.start[2])
        return ObjectPieces(object_id, features, counts, start, factor)

    def _truth_counts(
        self,
        arrays: dict[str, Any],
        box: Box,
        factor: tuple[int, int, int],
        pieces: npt.NDArray[np.int32],
        own: npt.NDArray[np.int32],
        object_id: int,
    ) -> npt.NDArray[np.int64]:
        """Voxels of each truth class under each piece, on the annotated slices only.

        ``own`` is the piece map restricted to the object's own voxels. Exact at any
        downsampling: there each annotated slice of the box is read at full resolution,
        with the object's own voxels, and looked up in the (coarse) piece map.
        """
        assert self.truth is not None
        n = int(pieces.max())
        counts = np.zeros((n, len(self.truth_ids)), np.int64)
        slices = list(range(box.start[0], box.stop[0]))
        if self.annotated is not None:
            slices = [z for z in self.annotated if box.start[0] <= z < box.stop[0]]
        if factor == (1, 1, 1):  # the object's mask is at full resolution: one read
            keep = np.asarray(slices, dtype=np.int64) - box.start[0]
            truth = np.asarray(arrays["truth"][box.slices])[keep]
            mine = own[keep]
            for j, value in enumerate(self.truth_ids):
                hit = (mine > 0) & (truth == value)
                counts[:, j] = np.bincount(mine[hit] - 1, minlength=n)[:n]
            return counts
        (y0, x0), (y1, x1) = box.start[1:], box.stop[1:]
        rows = (np.arange(y1 - y0) // factor[1])[:, None]
        cols = (np.arange(x1 - x0) // factor[2])[None, :]
        for z in slices:
            own = np.asarray(arrays["components"][z, y0:y1, x0:x1]) == object_id
            if not own.any():
                continue
            piece = pieces[(z - box.start[0]) // factor[0]][rows, cols]
            truth = np.asarray(arrays["truth"][z, y0:y1, x0:x1])
            for j, value in enumerate(self.truth_ids):
                hit = own & (truth == value) & (piece > 0)
                counts[:, j] += np.bincount(piece[hit] - 1, minlength=n)[:n]
        return counts
