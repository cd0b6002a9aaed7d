"""Object-level scores of instance labels: voxel overlaps of every (prediction, ground truth)
pair, streamed over z-slabs, and one-to-one matching of objects at an IoU threshold."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from volseg.errors import ConfigError, InputError
from volseg.runtime._progress import count_bar

if TYPE_CHECKING:
    from volseg.reconstruct import Connectivity

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


@dataclass(frozen=True, eq=False)
class ObjectMatch:
    """One-to-one matching of predicted to ground-truth objects at an IoU threshold.

    Attributes
    ----------
    tp : int
        Matched pairs.
    fp : int
        Predicted objects without a match.
    fn : int
        Ground-truth objects without a match.
    precision : float
        ``tp / (tp + fp)``; NaN when there is no predicted object.
    recall : float
        ``tp / (tp + fn)``; NaN when there is no ground-truth object.
    f1 : float
        ``2 tp / (2 tp + fp + fn)``; NaN only when there are no objects at all. So a
        prediction with no objects against a ground truth with some scores precision NaN,
        recall 0, F1 0 (and objects predicted where the ground truth has none: precision
        0, recall NaN, F1 0): finding nothing, or only false objects, is a failure rather
        than undefined. (This differs on purpose from the boundary F1, which is NaN when
        either side is empty.)
    pairs : pandas.DataFrame
        The matched pairs: ``pred_id`` and ``gt_id`` (int64) and ``iou`` (float64), sorted
        by ``gt_id``.
    iou_threshold : float
        The IoU a pair needs to match.
    """

    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    pairs: pd.DataFrame
    iou_threshold: float


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


def _subset(ids: npt.ArrayLike | None, present: IntArray, name: str) -> IntArray:
    """The ids of ``ids`` that occur in the volume (all present ids when None)."""
    if ids is None:
        return present
    arr = np.asarray(ids).reshape(-1)
    if arr.size == 0:
        return np.zeros(0, np.int64)
    if arr.dtype.kind not in "iu":
        raise InputError(f"{name} must be integer object ids, got dtype {arr.dtype}")
    if arr.dtype.kind == "u":
        arr = arr[arr <= _INT64_MAX]  # larger ids cannot occur in the volume
    return np.intersect1d(arr.astype(np.int64), present)


def _one_to_one(pred: IntArray, gt: IntArray, iou: npt.NDArray[np.float64]) -> IntArray:
    """Indices of the candidates kept by greedy matching: by descending IoU, then smaller
    pred id, then smaller gt id, each object used at most once."""
    if np.unique(pred).size == pred.size and np.unique(gt).size == gt.size:
        return np.arange(pred.size)
    order = np.lexsort((gt, pred, -iou))
    used_p: set[int] = set()
    used_g: set[int] = set()
    keep = []
    for i in order.tolist():
        p, g = int(pred[i]), int(gt[i])
        if p not in used_p and g not in used_g:
            used_p.add(p)
            used_g.add(g)
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def match_objects(
    overlaps: Overlaps,
    *,
    pred_ids: npt.ArrayLike | None = None,
    gt_ids: npt.ArrayLike | None = None,
    iou_threshold: float = 0.5,
) -> ObjectMatch:
    """Match predicted to ground-truth objects one-to-one at an IoU threshold.

    Parameters
    ----------
    overlaps
        From :func:`object_overlaps`.
    pred_ids, gt_ids
        The objects to score, e.g. only the objects classified as soma against only the
        ground-truth somas; None scores every object. Ids that do not occur in the volume
        (size 0, including 0 itself) are ignored.
    iou_threshold
        A pair matches when its IoU is ≥ this, in (0, 1].

    Returns
    -------
    ObjectMatch
        Counts, precision, recall, F1 (see :class:`ObjectMatch` for the NaN conventions)
        and the matched pairs.

    Raises
    ------
    ConfigError
        ``iou_threshold`` outside (0, 1].
    InputError
        ``pred_ids`` or ``gt_ids`` are not integers.

    Notes
    -----
    The IoU of a pair is ``common / (pred size + gt size - common)`` with the sizes of the
    whole objects, so restricting the scored ids changes which objects count, never the
    IoU of a pair. Above 0.5 a match is unique by construction (an object cannot share more
    than half of a union with two disjoint objects). At 0.5 and below, one object may pass
    the threshold with several; conflicts are resolved greedily by descending IoU (ties by
    smaller pred id, then smaller gt id), each object matched at most once. At exactly 0.5
    a conflict needs an object split exactly in half (IoU 0.5 with each half) and greedy
    still matches as many pairs as an optimal assignment; below 0.5 it may match fewer.

    Examples
    --------
    >>> import numpy as np
    >>> from volseg.evaluate import match_objects, object_overlaps
    >>> gt = np.zeros((1, 4, 6), np.uint8)
    >>> gt[0, :, :3], gt[0, :, 3:] = 1, 2
    >>> pred = np.where(gt == 1, 5, 0)
    >>> m = match_objects(object_overlaps(pred, gt))
    >>> m.tp, m.fp, m.fn, m.precision, m.recall
    (1, 0, 1, 1.0, 0.5)
    """
    t = float(iou_threshold)
    if not 0.0 < t <= 1.0:  # also rejects NaN
        raise ConfigError(
            f"iou_threshold must lie in (0, 1], got {iou_threshold!r}; 0.5 is the usual "
            "object-detection threshold"
        )
    ov = overlaps
    preds = _subset(pred_ids, ov.pred_ids, "pred_ids")
    gts = _subset(gt_ids, ov.gt_ids, "gt_ids")
    chosen = np.isin(ov.pairs[:, 0], preds) & np.isin(ov.pairs[:, 1], gts)
    p, g, common = ov.pairs[chosen, 0], ov.pairs[chosen, 1], ov.counts[chosen]
    iou = common / (ov.pred_size(p) + ov.gt_size(g) - common)
    hit = iou >= t
    p, g, iou = p[hit], g[hit], iou[hit]
    keep = _one_to_one(p, g, iou)
    table = pd.DataFrame(
        {"pred_id": p[keep], "gt_id": g[keep], "iou": iou[keep].astype(np.float64)}
    )
    table = table.sort_values("gt_id", kind="stable").reset_index(drop=True)
    tp, n_pred, n_gt = len(table), preds.size, gts.size
    return ObjectMatch(
        tp=tp,
        fp=n_pred - tp,
        fn=n_gt - tp,
        precision=tp / n_pred if n_pred else math.nan,
        recall=tp / n_gt if n_gt else math.nan,
        f1=2 * tp / (n_pred + n_gt) if n_pred + n_gt else math.nan,
        pairs=table,
        iou_threshold=t,
    )


def instance_labels(
    class_labels: npt.ArrayLike,
    class_id: int,
    *,
    connectivity: Connectivity = 26,
) -> npt.NDArray[np.int32]:
    """Objects of one class: the connected components of ``class_labels == class_id``.

    In memory, for volumes that fit in it (tests, benchmarks, crops); label large volumes
    block by block with :func:`volseg.reconstruct.reconstruct_components`, which numbers
    the objects the same way.

    Parameters
    ----------
    class_labels
        ``(z, y, x)`` class ids.
    class_id
        The class whose voxels make up the objects.
    connectivity
        6, 18 or 26: voxels that share a face, also an edge, also a corner are neighbours.

    Returns
    -------
    numpy.ndarray
        int32 object ids ``1..n`` (numbered by first voxel in C order), 0 elsewhere.

    Raises
    ------
    ConfigError
        A connectivity other than 6, 18 or 26.
    InputError
        ``class_labels`` is not 3D.

    Examples
    --------
    >>> import numpy as np
    >>> from volseg.evaluate import instance_labels
    >>> labels = np.zeros((1, 3, 5), np.uint8)
    >>> labels[0, 1, [0, 1, 3]] = 1
    >>> instance_labels(labels, 1)[0, 1].tolist()
    [1, 1, 0, 2, 0]
    """
    # imported here so that `import volseg.evaluate` does not pull in meshing and skeletons
    from scipy import ndimage

    from volseg.reconstruct._blocks import CONNECTIVITIES, structure

    if connectivity not in CONNECTIVITIES:
        raise ConfigError(
            f"connectivity must be 6 (faces), 18 (faces and edges) or 26 (faces, edges and "
            f"corners), got {connectivity!r}"
        )
    arr = np.asarray(class_labels)
    if arr.ndim != 3:
        raise InputError(f"class labels must be (z, y, x), got {arr.ndim}D shape {arr.shape}")
    out = np.zeros(arr.shape, np.int32)
    ndimage.label(arr == class_id, structure(connectivity), output=out)
    return out
