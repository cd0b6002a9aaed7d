"""Region metrics of label images: confusion matrix, pixel accuracy, IoU."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numba
import numpy as np

from volseg.errors import InputError
from volseg.metrics import _kernels
from volseg.metrics._validate import (
    as_labels,
    check_label_range,
    check_num_classes,
    check_same_shape,
)

_PART = 1 << 16  # voxels below which a part is not worth its own table
_TABLE_BUDGET = 1 << 22  # int64 entries of all partial tables together


def _pair(pred: object, gt: object) -> tuple[np.ndarray, np.ndarray]:
    p = as_labels(pred, "pred")
    g = as_labels(gt, "gt")
    check_same_shape(p, g)
    return p.reshape(-1), g.reshape(-1)


def confusion_matrix(pred: object, gt: object, num_classes: int) -> np.ndarray:
    """Confusion matrix of two label images.

    Parameters
    ----------
    pred, gt : array_like of int
        Predicted and ground-truth label images of the same shape (any number of
        dimensions). Labels must lie in ``[0, num_classes)``.
    num_classes : int
        Number of classes (≥ 1).

    Returns
    -------
    numpy.ndarray
        ``(num_classes, num_classes)`` int64; ``cm[g, p]`` is the number of voxels with
        ground truth ``g`` and prediction ``p``: **rows are ground truth, columns are
        prediction** (scikit-learn's convention). The diagonal holds the correct voxels.

    Raises
    ------
    InputError
        Shapes differ, a label image is not of integer dtype, or a label is negative or
        ≥ ``num_classes`` (the message names the value).

    Notes
    -----
    Confusion matrices of disjoint blocks add up to the matrix of their union, so a
    streamed volume is scored by summing block matrices and calling
    :func:`metrics_from_confusion` once. Empty arrays give an all-zero matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from volseg.metrics import confusion_matrix
    >>> confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 3)
    array([[1, 0, 0],
           [0, 1, 0],
           [0, 1, 1]])
    """
    n = check_num_classes(num_classes)
    p, g = _pair(pred, gt)
    # one partial table per part: a few per thread, capped so they stay small (≤ 32 MiB)
    n_parts = max(1, min(-(-p.size // _PART), 4 * numba.get_num_threads(), _TABLE_BUDGET // n**2))
    with _kernels.threads_for(p.size):
        table, nbad = _kernels.confusion_counts(g, p, n, n_parts)
    if nbad:
        check_label_range(g, "gt", n)
        check_label_range(p, "pred", n)
    return np.asarray(table, dtype=np.int64)


def pixel_accuracy(pred: object, gt: object) -> float:
    """Fraction of voxels where ``pred`` equals ``gt``.

    Parameters
    ----------
    pred, gt : array_like of int
        Label images of the same shape.

    Returns
    -------
    float
        Equal voxels / all voxels, in [0, 1]; NaN for empty arrays.

    Raises
    ------
    InputError
        Shapes differ or a label image is not of integer dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from volseg.metrics import pixel_accuracy
    >>> pixel_accuracy(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]))
    0.75
    """
    p, g = _pair(pred, gt)
    if p.size == 0:
        return math.nan
    with _kernels.threads_for(p.size):
        return int(_kernels.equal_count(p, g)) / p.size


def iou(pred: object, gt: object, cls: int) -> float:
    """Intersection over union of one class: ``|P ∩ G| / |P ∪ G|``.

    Parameters
    ----------
    pred, gt : array_like of int
        Label images of the same shape.
    cls : int
        The class; ``P = pred == cls`` and ``G = gt == cls``.

    Returns
    -------
    float
        IoU in [0, 1]; NaN when the union is empty (the class is in neither image).

    Raises
    ------
    InputError
        Shapes differ or a label image is not of integer dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from volseg.metrics import iou
    >>> iou(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 1)
    0.5
    """
    p, g = _pair(pred, gt)
    with _kernels.threads_for(p.size):
        inter, union = _kernels.class_overlap(p, g, int(cls))
    return math.nan if union == 0 else int(inter) / int(union)


def iou_per_class(pred: object, gt: object, num_classes: int) -> np.ndarray:
    """IoU of every class ``0 .. num_classes - 1`` (float64; NaN where the union is empty).

    Computed from :func:`confusion_matrix`, so the same input checks apply.

    Examples
    --------
    >>> import numpy as np
    >>> from volseg.metrics import iou_per_class
    >>> iou_per_class(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 4)
    array([1. , 0.5, 0.5, nan])
    """
    return _iou_from_confusion(confusion_matrix(pred, gt, num_classes))


def _iou_from_confusion(cm: np.ndarray) -> np.ndarray:
    inter = np.diag(cm).astype(np.float64)
    union = cm.sum(axis=0) + cm.sum(axis=1) - np.diag(cm)
    out = np.full(cm.shape[0], np.nan)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def metrics_from_confusion(cm: object) -> dict[str, Any]:
    """Accuracy and IoU from a confusion matrix (rows = ground truth, columns = prediction).

    Parameters
    ----------
    cm : array_like of int
        Square, non-negative integer matrix as returned by :func:`confusion_matrix`, or a
        sum of them over blocks.

    Returns
    -------
    dict
        ``"accuracy"``: float, trace / total, NaN when the total is 0;
        ``"iou"``: float64 array per class, NaN where the class is in neither image;
        ``"mean_iou"``: float, mean of ``"iou"`` ignoring NaN (NaN if all are NaN);
        ``"total"``: int, number of voxels counted.

    Raises
    ------
    InputError
        ``cm`` is not square, not of integer dtype, or has negative entries.

    Examples
    --------
    >>> import numpy as np
    >>> from volseg.metrics import metrics_from_confusion
    >>> m = metrics_from_confusion(np.array([[3, 1], [0, 4]]))
    >>> m["accuracy"], m["iou"].tolist(), m["total"]
    (0.875, [0.75, 0.8], 8)
    """
    arr = np.asarray(cm)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise InputError(f"a confusion matrix must be square 2D, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise InputError(f"a confusion matrix must hold integer counts, got dtype {arr.dtype}")
    if arr.size and arr.min() < 0:
        raise InputError("a confusion matrix holds counts; found a negative entry")
    arr = arr.astype(np.int64)
    total = int(arr.sum())
    per_class = _iou_from_confusion(arr)
    return {
        "accuracy": math.nan if total == 0 else int(np.trace(arr)) / total,
        "iou": per_class,
        "mean_iou": mean_ignoring_nan(per_class),
        "total": total,
    }


def mean_ignoring_nan(values: Iterable[float]) -> float:
    """Mean of ``values`` ignoring NaN; NaN (no warning) when nothing is left.

    Examples
    --------
    >>> from volseg.metrics import mean_ignoring_nan
    >>> mean_ignoring_nan([0.5, float("nan"), 1.0])
    0.75
    >>> mean_ignoring_nan([float("nan")])
    nan
    """
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, float)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else math.nan
