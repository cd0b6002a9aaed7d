"""The objects of a segmentation, split at their necks and measured, one dask task each.

:func:`measure_objects` finds the 3D objects of the object classes (soma ∪ vessel, block-wise
connected components of :mod:`volseg.reconstruct`), writes their ids to a work array, and
runs :class:`ObjectTask` on every object: read its bounding box (block-any downsampled above
``max_voxels``, so memory stays bounded), cut it at its necks (:func:`split_object`), and
measure every piece (:func:`piece_features`). With ground truth it also counts the truth
classes under each piece on the annotated slices, for training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import zarr
from scipy import ndimage as ndi

from volseg.classify._features import FEATURES, piece_features
from volseg.classify._split import DEFAULT_NECK_RATIO, object_distance, split_object
from volseg.errors import ConfigError
from volseg.geometry import Block, Box
from volseg.io._layout import scratch_compressor
from volseg.reconstruct import find_components, id_dtype, write_components
from volseg.reconstruct._parallel import map_blocks
from volseg.reconstruct._sampling import read_sampled_mask
from volseg.reconstruct._table import Moments

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "DEFAULT_FEATURE_VOXELS",
    "PLACEMENT",
    "MeasuredObjects",
    "ObjectOptions",
    "ObjectTask",
    "measure_objects",
]

#: Objects whose bounding box holds more voxels are split and measured downsampled.
DEFAULT_FEATURE_VOXELS = 2**23
_BBOX = ("bbox_z0", "bbox_y0", "bbox_x0", "bbox_z1", "bbox_y1", "bbox_x1")
#: Where each piece is: voxel count, centroid (µm), bounding box (voxels, end exclusive).
PLACEMENT = ("voxels", "centroid_z_um", "centroid_y_um", "centroid_x_um", *_BBOX)


@dataclass(frozen=True)
class ObjectOptions:
    """How the objects are found, cut and measured; a classifier records the options it was
    trained with, and :func:`~volseg.classify.classify` uses them unless told otherwise.

    ``min_voxels``: smaller objects are dropped (dust); ``neck_ratio``, ``split``: the cut
    at necks (:func:`split_object`); ``max_voxels``: objects with larger bounding boxes are
    cut and measured downsampled (bounded memory).
    """

    min_voxels: int = 0
    neck_ratio: float = DEFAULT_NECK_RATIO
    split: bool = True
    max_voxels: int = DEFAULT_FEATURE_VOXELS

    def __post_init__(self) -> None:
        if int(self.min_voxels) != self.min_voxels or self.min_voxels < 0:
            raise ConfigError(f"min_voxels must be a whole number ≥ 0, got {self.min_voxels!r}")
        if not 0 < self.neck_ratio <= 1:
            raise ConfigError(f"neck_ratio must be in (0, 1], got {self.neck_ratio!r}")
        if int(self.max_voxels) != self.max_voxels or self.max_voxels < 1:
            raise ConfigError(f"max_voxels must be a whole number ≥ 1, got {self.max_voxels!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "min_voxels": int(self.min_voxels),
            "neck_ratio": float(self.neck_ratio),
            "split": bool(self.split),
            "max_voxels": int(self.max_voxels),
        }

    @classmethod
    def resolve(cls, recorded: Mapping[str, Any], **given: Any) -> ObjectOptions:
        """The options ``given`` (not None), else those ``recorded`` (e.g. a classifier's
        metadata), else the defaults."""
        names = ("min_voxels", "neck_ratio", "split", "max_voxels")
        values = {n: recorded[n] for n in names if recorded.get(n) is not None}
        values |= {n: v for n, v in given.items() if v is not None}
        return cls(**values)


@dataclass(frozen=True)
class ObjectPieces:
    """What :class:`ObjectTask` found in one object: its pieces' features (one dict each),
    the truth class counts under each piece (``(n, len(truth_ids))``, or None), and the
    piece map (``pieces.npy`` under the work folder) when the object was cut."""

    object_id: int
    features: list[dict[str, float]]
    truth_counts: npt.NDArray[np.int64] | None
    piece_map: str | None
    start: tuple[int, int, int]
    factor: tuple[int, int, int]

    @property
    def n(self) -> int:
        return len(self.features)


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


def _sampled(array: zarr.Array, box: Box, factor: tuple[int, int, int]) -> npt.NDArray[Any]:
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
    """Split and measure one object (a dask task; small and picklable).

    ``truth``/``truth_ids``: ground-truth class labels and the values to count (background
    first); ``annotated``: the annotated slices (None: every slice).
    """

    components: zarr.Array
    image: zarr.Array
    voxel_size: tuple[float, float, float]
    work: str
    options: ObjectOptions = ObjectOptions()
    truth: zarr.Array | None = None
    truth_ids: tuple[int, ...] = ()
    annotated: tuple[int, ...] | None = None
    labels: zarr.Array | None = None
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
        piece_map = None
        if n > 1:
            folder = Path(self.work) / "pieces"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"object_{object_id}.npy"
            tmp = path.with_suffix(".partial.npy")
            np.save(tmp, pieces.astype(np.int32))
            tmp.replace(path)
            piece_map = str(path)
        counts = (
            None
            if self.truth is None
            else self._truth_counts(arrays, box, factor, pieces, n, object_id)
        )
        start = (box.start[0], box.start[1], box.start[2])
        return ObjectPieces(object_id, features, counts, piece_map, start, factor)

    def _truth_counts(
        self,
        arrays: dict[str, Any],
        box: Box,
        factor: tuple[int, int, int],
        pieces: npt.NDArray[np.int32],
        n: int,
        object_id: int,
    ) -> npt.NDArray[np.int64]:
        """Voxels of each truth class under each piece, on the annotated slices only.

        Exact at any downsampling: each annotated slice of the box is read at full
        resolution, with the object's own voxels, and looked up in the (coarse) piece map.
        """
        assert self.truth is not None
        counts = np.zeros((n, len(self.truth_ids)), np.int64)
        slices = list(range(box.start[0], box.stop[0]))
        if self.annotated is not None:
            slices = [z for z in self.annotated if box.start[0] <= z < box.stop[0]]
        if factor == (1, 1, 1):  # the piece map is the object at full resolution: one read
            own = np.where(np.asarray(arrays["components"][box.slices]) == object_id, pieces, 0)
            keep = np.asarray(slices, dtype=np.int64) - box.start[0]
            truth = np.asarray(arrays["truth"][box.slices])[keep]
            own = own[keep]
            for j, value in enumerate(self.truth_ids):
                hit = (own > 0) & (truth == value)
                counts[:, j] = np.bincount(own[hit] - 1, minlength=n)[:n]
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


@dataclass(frozen=True)
class MeasuredObjects:
    """The objects of a segmentation and their pieces.

    ``components``: the work array of object ids (26-connected components of the object
    classes); ``pieces``: one :class:`ObjectPieces` per object, object ``i`` at ``i - 1``;
    ``table``: one row per piece — ``component``, ``piece`` (1..n within its object),
    ``downsample_factor``, every feature of :data:`FEATURES`, and ``truth_<value>`` counts
    when ground truth was given.
    """

    components: zarr.Array
    pieces: list[ObjectPieces]
    table: pd.DataFrame


def _small_chunks(block: Sequence[int], side: int = 128) -> tuple[int, ...]:
    """Chunks that tile ``block`` and are at most ``side`` in y and x: each object task
    reads its bounding box, and a small object should not decode a whole block."""
    chunks = [int(block[0])]
    for n in block[1:]:
        chunks.append(max(d for d in range(1, min(int(n), side) + 1) if n % d == 0))
    return tuple(chunks)


def measure_objects(
    labels: zarr.Array,
    image: zarr.Array,
    *,
    class_ids: Sequence[int],
    voxel_size: Sequence[float],
    work: str | Path,
    client: Client,
    block_shape: Sequence[int] | None = None,
    options: ObjectOptions = ObjectOptions(),
    truth: zarr.Array | None = None,
    truth_ids: Sequence[int] = (),
    annotated: Sequence[int] | None = None,
    vote: int | None = None,
    progress: bool = True,
) -> MeasuredObjects:
    """Find, split and measure the objects of ``isin(labels, class_ids)``.

    Objects with fewer than ``options.min_voxels`` voxels are dropped (dust) before they
    are measured. ``vote``: the label value whose share of each piece is its
    ``segmented_fraction`` (None: 0). See :class:`ObjectTask` for the rest.
    """
    work = Path(work)
    vs = (float(voxel_size[0]), float(voxel_size[1]), float(voxel_size[2]))
    found = find_components(
        labels,
        class_ids=class_ids,
        work=work / "provisional",
        client=client,
        block_shape=block_shape,
        measure=False,
        progress=progress,
    )
    keep = found.moments.voxels >= options.min_voxels
    ids = zarr.create_array(
        str(work / "components"),
        shape=labels.shape,
        chunks=_small_chunks(found.grid.block_shape),
        dtype=id_dtype(int(keep.sum())),
        fill_value=0,
        compressors=[scratch_compressor()],
        overwrite=True,
    )
    write_components(found, ids, client=client, keep=keep, progress=progress)
    task = ObjectTask(
        components=ids,
        image=image,
        voxel_size=vs,
        work=str(work),
        options=options,
        truth=truth,
        truth_ids=tuple(int(t) for t in truth_ids),
        annotated=None if annotated is None else tuple(int(a) for a in annotated),
        labels=labels,
        vote=vote,
    )
    moments = found.moments.take(keep)
    groups = _groups(moments, labels.shape, options.max_voxels)
    calls = [(Block(g, (g,), region), members) for g, (region, members) in enumerate(groups)]
    calls.sort(key=lambda call: -call[0].box.size)  # the largest first: balanced workers
    done: list[list[ObjectPieces]] = map_blocks(
        client, task, calls, description="classify: measure objects", progress=progress
    )
    pieces = sorted((p for group in done for p in group), key=lambda p: p.object_id)
    return MeasuredObjects(ids, pieces, _table(pieces, truth_ids if truth is not None else ()))


def _groups(
    moments: Moments, shape: Sequence[int], max_voxels: int
) -> list[tuple[Box, tuple[tuple[int, Box], ...]]]:
    """Objects ``1..n`` in groups that read one region: consecutive objects (raster order,
    so near in z) while the box around their grown boxes holds at most
    :data:`GROUP_VOXELS` voxels; an object larger than that, or to be downsampled, alone."""
    volume = Box.from_shape(shape)
    groups: list[tuple[Box, tuple[tuple[int, Box], ...]]] = []
    region: Box | None = None
    members: list[tuple[int, Box]] = []
    for i in range(len(moments)):
        box = Box(tuple(moments.lo[i]), tuple(moments.hi[i]))
        grown = box.grow(1).clip(volume)
        alone = grown.size > min(GROUP_VOXELS, max_voxels)
        joined = None if region is None else _around(region, grown)
        if members and (alone or joined is None or joined.size > GROUP_VOXELS):
            groups.append((region, tuple(members)))  # type: ignore[arg-type]
            region, members = None, []
        if alone:
            groups.append((grown, ((i + 1, box),)))
            continue
        region = grown if region is None else _around(region, grown)
        members.append((i + 1, box))
    if members:
        groups.append((region, tuple(members)))  # type: ignore[arg-type]
    return groups


def _around(a: Box, b: Box) -> Box:
    return Box(
        tuple(min(x, y) for x, y in zip(a.start, b.start, strict=True)),
        tuple(max(x, y) for x, y in zip(a.stop, b.stop, strict=True)),
    )


def _table(pieces: Sequence[ObjectPieces], truth_ids: Sequence[int]) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for obj in pieces:
        for k, features in enumerate(obj.features, start=1):
            row: dict[str, Any] = {"component": obj.object_id, "piece": k}
            row["downsample_factor"] = "x".join(str(f) for f in obj.factor)
            row |= features
            if obj.truth_counts is not None:
                row |= {
                    f"truth_{v}": int(c)
                    for v, c in zip(truth_ids, obj.truth_counts[k - 1], strict=True)
                }
            rows.append(row)
    columns = ["component", "piece", "downsample_factor", *PLACEMENT, *FEATURES]
    truth = [f"truth_{v}" for v in truth_ids]
    dtypes = {"component": np.int64, "piece": np.int64, "downsample_factor": object}
    dtypes |= {c: np.float64 for c in (*PLACEMENT, *FEATURES)} | {c: np.int64 for c in truth}
    return pd.DataFrame(rows, columns=[*columns, *truth]).astype(dtypes)
