"""Voxel overlaps of every (prediction, ground truth) pair of instance labels, streamed over
z-slabs: the input of object-level matching (:func:`~volseg.evaluate.match_objects`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from volseg.errors import ConfigError, InputError
from volseg.runtime._progress import count_bar

IntArray = npt.NDArray[np.int64]

#: Slices per slab when the prediction has no chunking to follow.
SLAB_DEPTH = 16
#: Pending per-slab entries above which the partial sums are merged (bounds memory).
_MERGE_AT = 1 << 22
_INT64_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True, eq=False)
class Overlaps:
    """Voxel counts of every overlapping (pred id, gt id) pair and of every object.

    Counts of background (id 0) are not kept. All arrays are read-only.

    Attributes
    ----------
    pairs : numpy.ndarray
        ``(m, 2)`` int64 ``(pred id, gt id)`` of the pairs that share at least one voxel,
        both ids > 0, sorted by pred id then gt id.
    counts : numpy.ndarray
        ``(m,)`` int64 voxels the pair has in common.
    pred_ids, pred_sizes : numpy.ndarray
        int64 ids of the predicted objects (> 0, sorted) and their sizes in voxels.
    gt_ids, gt_sizes : numpy.ndarray
        The same for the ground-truth objects.
    """

    pairs: IntArray
    counts: IntArray
    pred_ids: IntArray
    pred_sizes: IntArray
    gt_ids: IntArray
    gt_sizes: IntArray

    def pred_size(self, ids: npt.ArrayLike) -> IntArray:
        """Sizes in voxels of the predicted objects ``ids`` (0 for ids absent from the volume)."""
        return _lookup(self.pred_ids, self.pred_sizes, ids)

    def gt_size(self, ids: npt.ArrayLike) -> IntArray:
        """Sizes in voxels of the ground-truth objects ``ids`` (0 for ids absent)."""
        return _lookup(self.gt_ids, self.gt_sizes, ids)


def _lookup(ids: IntArray, sizes: IntArray, query: npt.ArrayLike) -> IntArray:
    q = np.asarray(query, dtype=np.int64)
    if ids.size == 0:
        return np.zeros(q.shape, np.int64)
    i = np.minimum(np.searchsorted(ids, q), ids.size - 1)
    return np.where(ids[i] == q, sizes[i], 0).astype(np.int64)


def _frozen(a: npt.ArrayLike) -> IntArray:
    out = np.array(a, dtype=np.int64)
    out.setflags(write=False)
    return out


def _group_sum(keys: IntArray, counts: IntArray) -> tuple[IntArray, IntArray]:
    """Rows of ``keys`` (``(n, k)``) made unique and sorted, with their ``counts`` summed."""
    if keys.shape[0] == 0:
        return keys, counts
    order = np.lexsort(keys.T[::-1])
    keys, counts = keys[order], counts[order]
    starts = np.flatnonzero(np.concatenate([[True], (keys[1:] != keys[:-1]).any(axis=1)]))
    return keys[starts], np.add.reduceat(counts, starts)


class _Tally:
    """Counts per key (rows of ``width`` ints) summed over slabs. The slabs' partial
    counts are merged whenever they grow large, so memory follows the number of distinct
    keys, not the number of slabs."""

    def __init__(self, width: int) -> None:
        self._keys: list[IntArray] = [np.zeros((0, width), np.int64)]
        self._counts: list[IntArray] = [np.zeros(0, np.int64)]
        self._width = width
        self._rows = 0
        self._limit = _MERGE_AT

    def add(self, keys: IntArray, counts: IntArray) -> None:
        self._keys.append(keys.reshape(counts.size, self._width))
        self._counts.append(counts)
        self._rows += counts.size
        if self._rows > self._limit:
            _, merged = self.merge()
            # at least double before the next merge, so merging costs O(n log n) in all
            self._rows, self._limit = merged.size, max(_MERGE_AT, 2 * merged.size)

    def merge(self) -> tuple[IntArray, IntArray]:
        """The unique keys, sorted, and their summed counts."""
        keys, counts = _group_sum(np.concatenate(self._keys), np.concatenate(self._counts))
        self._keys, self._counts = [keys], [counts]
        return keys, counts


def _id_counts(a: IntArray) -> tuple[IntArray, IntArray]:
    """Ids > 0 of ``a`` and their voxel counts (bincount when the ids are small)."""
    fg = a[a > 0]
    if fg.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if int(fg.max()) < max(4 * fg.size, 1 << 16):
        n = np.bincount(fg)
        ids = np.flatnonzero(n)
        return ids.astype(np.int64), n[ids].astype(np.int64)
    ids, n = np.unique(fg, return_counts=True)
    return ids, n.astype(np.int64)


def _pair_counts(p: IntArray, g: IntArray) -> tuple[IntArray, IntArray]:
    """Overlapping ``(pred id, gt id)`` pairs of one slab and their voxel counts."""
    both = (p > 0) & (g > 0)
    pv, gv = p[both], g[both]
    if pv.size == 0:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.int64)
    width = int(gv.max()) + 1
    if int(pv.max()) <= (_INT64_MAX - width) // width:
        # one int64 key per voxel: a single sort
        keys, n = np.unique(pv * width + gv, return_counts=True)
        pairs = np.stack([keys // width, keys % width], axis=1)
        return pairs, n.astype(np.int64)
    # ids too large to combine into one int64: group the two columns instead
    return _group_sum(np.stack([pv, gv], axis=1), np.ones(pv.size, np.int64))


def _slab_labels(a: Any, z0: int, z1: int, name: str) -> IntArray:
    block = np.asarray(a[z0:z1])
    if block.dtype.kind not in "biu":
        raise InputError(
            f"{name} must hold integer instance ids, got dtype {block.dtype}; label the "
            f"objects first (e.g. with volseg.evaluate.instance_labels)"
        )
    if block.size and block.dtype.kind in "iu" and block.dtype.itemsize == 8:
        lo, hi = block.min(), block.max()
        if lo < 0 or hi > _INT64_MAX:
            raise InputError(
                f"{name} holds id {lo if lo < 0 else hi} in slices {z0}:{z1}; instance "
                f"ids must lie in [0, {_INT64_MAX}]"
            )
    elif block.size and block.dtype.kind == "i" and block.min() < 0:
        raise InputError(
            f"{name} holds the negative id {block.min()} in slices {z0}:{z1}; instance ids "
            f"must be ≥ 0 (0 is background)"
        )
    return block.astype(np.int64, copy=False)


def _default_slab(a: Any) -> int:
    chunks = getattr(a, "chunks", None)
    if not chunks:
        return SLAB_DEPTH
    first = chunks[0]
    if isinstance(first, tuple):  # dask: the chunk sizes along z
        first = max(first) if first else SLAB_DEPTH
    return max(int(first), 1)


def object_overlaps(
    pred: Any,
    gt: Any,
    *,
    slab: int | None = None,
    progress: bool = False,
) -> Overlaps:
    """Voxel overlaps of every pair of predicted and ground-truth objects, and object sizes.

    The volumes are read ``slab`` slices at a time, so memory is bounded by one slab of
    each plus the per-pair counts, not by the depth of the volume.

    Parameters
    ----------
    pred, gt
        ``(z, y, x)`` instance labels of the same shape: integer ids, 0 for background.
        NumPy, zarr, dask or anything with ``shape`` that slices along z.
    slab
        Slices read at a time; by default the z chunk depth of ``pred`` when it has
        ``chunks``, else 16.
    progress
        Draw a progress bar over slabs on stderr.

    Returns
    -------
    Overlaps
        The overlapping pairs with their common voxels, and the size of every object.

    Raises
    ------
    InputError
        The shapes differ or are not 3D, or the labels are not integer ids ≥ 0.
    ConfigError
        ``slab`` is not a positive integer.

    Examples
    --------
    >>> import numpy as np
    >>> from volseg.evaluate import object_overlaps
    >>> gt = np.zeros((1, 4, 4), np.uint8)
    >>> gt[0, :2] = 1
    >>> pred = np.roll(gt, 1, axis=1)
    >>> ov = object_overlaps(pred, gt)
    >>> ov.pairs.tolist(), ov.counts.tolist(), ov.pred_size([1]).tolist()
    ([[1, 1]], [4], [8])
    """
    pred = pred if hasattr(pred, "shape") else np.asarray(pred)
    gt = gt if hasattr(gt, "shape") else np.asarray(gt)
    shape, gt_shape = tuple(pred.shape), tuple(gt.shape)
    if shape != gt_shape:
        raise InputError(
            f"prediction and ground truth differ in shape: pred {shape} vs gt {gt_shape}; "
            "match objects of the same region (crop or resample one of them)"
        )
    if len(shape) != 3:
        raise InputError(f"instance labels must be (z, y, x), got {len(shape)}D shape {shape}")
    depth = _default_slab(pred) if slab is None else slab
    if isinstance(depth, bool) or not isinstance(depth, int | np.integer) or depth < 1:
        raise ConfigError(f"slab must be a positive number of slices, got {slab!r}")
    depth = int(depth)

    pairs, preds, gts = _Tally(2), _Tally(1), _Tally(1)
    starts = range(0, shape[0], depth)
    with count_bar(enabled=progress, unit="slabs") as bar:
        task = bar.add_task("object overlaps", total=len(starts))
        for z0 in starts:
            z1 = min(z0 + depth, shape[0])
            p = _slab_labels(pred, z0, z1, "pred")
            g = _slab_labels(gt, z0, z1, "gt")
            pairs.add(*_pair_counts(p, g))
            preds.add(*_id_counts(p))
            gts.add(*_id_counts(g))
            bar.advance(task)
    pair_keys, pair_counts = pairs.merge()
    pred_keys, pred_counts = preds.merge()
    gt_keys, gt_counts = gts.merge()
    return Overlaps(
        pairs=_frozen(pair_keys),
        counts=_frozen(pair_counts),
        pred_ids=_frozen(pred_keys[:, 0]),
        pred_sizes=_frozen(pred_counts),
        gt_ids=_frozen(gt_keys[:, 0]),
        gt_sizes=_frozen(gt_counts),
    )
