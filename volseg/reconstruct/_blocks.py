"""The block tasks of connected components, run on dask workers.

Each task is a small frozen dataclass (picklable: zarr arrays pickle as their store and
metadata, not their data) called with one block: label it (pass 1), find the ids that
touch across its low borders (merge), or write its final ids (pass 2). Tasks own their
block's chunks, so they may run in any order, twice, or at the same time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import zarr
from scipy import ndimage

from volseg.geometry import Block, Box
from volseg.io import StrictArray
from volseg.reconstruct._options import Connectivity
from volseg.reconstruct._table import Moments, block_extents, block_moments

#: Dtype of the provisional (block-local) ids.
LOCAL_DTYPE = np.dtype(np.uint32)


def structure(connectivity: Connectivity) -> npt.NDArray[np.bool_]:
    """The 3×3×3 neighbourhood of ``connectivity`` (as ``generate_binary_structure``)."""
    return ndimage.generate_binary_structure(3, {6: 1, 18: 2, 26: 3}[connectivity])


@dataclass(frozen=True)
class Pieces:
    """Pass 1 of one block: ``n`` local ids, the C-order linear index of each one's first
    voxel in the volume, and their moments."""

    n: int
    first: npt.NDArray[np.int64]
    moments: Moments


@dataclass(frozen=True)
class LabelTask:
    """Pass 1: label the block's foreground on its own and write the local ids.

    ``labels`` holds class ids; ``image`` (optional) the intensities, both read strictly (a
    damaged chunk is an error naming its key); the local ids go to the ``work`` array,
    whose chunks are the blocks.
    """

    labels: StrictArray
    image: StrictArray | None
    work: zarr.Array
    class_ids: tuple[int, ...]
    connectivity: Connectivity
    measure: bool = True

    def __call__(self, block: Block) -> Pieces:
        mask = np.isin(np.asarray(self.labels[block.box.slices]), self.class_ids)
        local, n = ndimage.label(mask, structure(self.connectivity))
        n = int(n)
        if n == 0:
            return Pieces(0, np.zeros(0, np.int64), Moments.empty())
        self.work[block.box.slices] = local.astype(LOCAL_DTYPE)
        image = None if self.image is None else np.asarray(self.image[block.box.slices])
        # flatnonzero runs in C order, and so do global indices within one block
        flat = np.flatnonzero(local)
        _, first = np.unique(local.ravel()[flat], return_index=True)
        where = np.unravel_index(flat[first], local.shape)
        first_global = np.ravel_multi_index(
            tuple(w + s for w, s in zip(where, block.box.start, strict=True)), self.labels.shape
        ).astype(np.int64)
        if not self.measure:
            return Pieces(n, first_global, block_extents(local, n, block.box.start))
        moments = block_moments(
            local, n, block.box.start, volume_shape=self.labels.shape, image=image
        )
        return Pieces(n, first_global, moments)


def low_borders(block: Block) -> Box:
    """The region the merge task of ``block`` reads: the block grown by one voxel on the
    low side of every axis (clipped at the origin)."""
    start = tuple(max(0, a - 1) for a in block.box.start)
    return Box(start, block.box.stop)


@dataclass(frozen=True)
class Borders:
    """The merge pass of one block: ``pairs`` ``(M, 2)`` of provisional ids that touch
    across its low borders, and the exposed faces on those borders: ``faces[axis]`` is
    ``(ids, counts)``."""

    pairs: npt.NDArray[np.int64]
    faces: tuple[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]], ...]


@dataclass(frozen=True)
class MergeTask:
    """Merge pass: what the block's low borders join and expose.

    For each axis where the block has a neighbour below, the task reads the two-voxel slab
    straddling the border, over the block's extent on the other axes grown by one voxel on
    their low side — so pairs across block edges and corners are found too. Every pair of
    neighbours in different blocks lies in the slab of the block holding their
    componentwise maximum, so the tasks of all blocks together find every pair. A face on
    the border is counted by the block above it (over the block's own extent only), so
    each face is counted once.
    """

    work: StrictArray
    connectivity: Connectivity

    def __call__(self, block: Block, sources: Sequence[tuple[Box, int]]) -> Borders:
        """``sources``: the box and id offset of every non-empty block that
        :func:`low_borders` touches."""
        region = low_borders(block)
        # one read per source block (a chunk is decoded whole, however thin the slab)
        parts = []
        for box, offset in sources:
            part = region.intersect(box)
            if not part.empty:
                parts.append((part, np.asarray(self.work[part.slices]), offset))
        plane = structure(self.connectivity)[2]  # neighbours one step up the axis
        steps = [(dp - 1, dq - 1) for dp, dq in zip(*np.nonzero(plane), strict=True)]
        found = [np.zeros((0, 2), np.int64)]
        faces = []
        for axis in range(3):
            empty = np.zeros(0, np.int64)
            if block.box.start[axis] == 0:
                faces.append((empty, empty))
                continue
            start = list(region.start)
            stop = list(region.stop)
            start[axis] = block.box.start[axis] - 1
            stop[axis] = block.box.start[axis] + 1
            slab = np.moveaxis(_global_ids(Box(tuple(start), tuple(stop)), parts), axis, 0)
            found += [_touching(slab[0], slab[1], dp, dq) for dp, dq in steps]
            own = tuple(
                slice(block.box.start[a] - region.start[a], None) for a in range(3) if a != axis
            )
            below, above = slab[0][own], slab[1][own]
            exposed = np.concatenate([below[above == 0], above[below == 0]])
            ids, counts = np.unique(exposed[exposed > 0], return_counts=True)
            faces.append((ids.astype(np.int64), counts.astype(np.int64)))
        return Borders(np.unique(np.concatenate(found), axis=0), tuple(faces))


def _global_ids(
    box: Box, parts: Sequence[tuple[Box, npt.NDArray[np.integer], int]]
) -> npt.NDArray[np.int64]:
    """The provisional ids in ``box`` from ``parts``: (box, local ids, id offset)."""
    ids = np.zeros(box.shape, dtype=np.int64)
    for part, local, offset in parts:
        common = box.intersect(part)
        if common.empty:
            continue
        values = local[common.relative_to(part)].astype(np.int64)
        ids[common.relative_to(box)] = np.where(values > 0, values + offset, 0)
    return ids


def _touching(
    lower: npt.NDArray[np.int64], upper: npt.NDArray[np.int64], dp: int, dq: int
) -> npt.NDArray[np.int64]:
    """Unique pairs ``(lower[p, q], upper[p + dp, q + dq])`` of two non-zero ids."""
    p, q = lower.shape

    def span(d: int, n: int) -> tuple[slice, slice]:
        return slice(max(0, -d), n - max(0, d)), slice(max(0, d), n + min(0, d))

    (lp, up), (lq, uq) = span(dp, p), span(dq, q)
    a, b = lower[lp, lq], upper[up, uq]
    both = (a > 0) & (b > 0)
    pairs = np.stack([a[both], b[both]], axis=1)
    return np.unique(pairs, axis=0) if pairs.size else pairs.reshape(0, 2)


@dataclass(frozen=True)
class WriteTask:
    """Pass 2: map the block's local ids through its lookup table into the output."""

    work: StrictArray
    out: zarr.Array

    def __call__(self, block: Block, lut: npt.NDArray[np.unsignedinteger]) -> int:
        """``lut[i]`` is the final id of local id ``i`` (``lut[0] == 0``); returns the number
        of object voxels written."""
        ids = lut[np.asarray(self.work[block.box.slices])]
        self.out[block.box.slices] = ids
        return int(np.count_nonzero(ids))
