"""One-to-one matching of objects at an IoU threshold (precision, recall, F1), and the
in-memory instance labels of one class."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from volseg.errors import ConfigError, InputError
from volseg.evaluate._overlaps import _INT64_MAX, IntArray, Overlaps

if TYPE_CHECKING:
    from volseg.reconstruct import Connectivity


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

    from volseg.reconstruct._blocks import structure
    from volseg.reconstruct._options import CONNECTIVITIES

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
