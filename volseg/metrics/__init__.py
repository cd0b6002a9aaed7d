"""Exact, fast segmentation metrics: confusion matrix, accuracy, IoU, boundary F1.

Region metrics (:func:`confusion_matrix`, :func:`pixel_accuracy`, :func:`iou`) take integer
label images; boundary metrics take masks (bool or 0/1). Boundary F1 follows MATLAB's
``bfscore`` (inner 4-connected boundary, match at distance < tolerance) and is computed by
numba kernels that scan only the integer offsets inside the tolerance disk; a plain
scipy reference (``volseg.metrics._reference``) checks them in the tests.

Streaming: confusion matrices and :class:`BF1Counts` add up over blocks, so a large
volume is scored by summing per-block results and deriving the metrics once
(:func:`metrics_from_confusion`, :meth:`BF1Scores.from_counts`); 3D surface counts are
exact over z-slabs with a halo of :func:`surface_halo` slices.

Examples
--------
>>> import numpy as np
>>> from volseg.metrics import bf1, confusion_matrix, metrics_from_confusion
>>> gt = np.zeros((8, 8), np.uint8)
>>> gt[2:6, 2:6] = 1
>>> pred = np.roll(gt, 1, axis=0)
>>> m = metrics_from_confusion(confusion_matrix(pred, gt, 2))
>>> m["accuracy"], m["iou"].round(3).tolist()
(0.875, [0.846, 0.6])
>>> bf1(pred, gt)
1.0
"""

from volseg.metrics._bf1 import bf1, bf1_counts, bf1_per_class, bf1_scores, bf1_table
from volseg.metrics._boundary import boundary
from volseg.metrics._confusion import (
    confusion_matrix,
    iou,
    iou_per_class,
    mean_ignoring_nan,
    metrics_from_confusion,
    pixel_accuracy,
)
from volseg.metrics._scores import BF1Counts, BF1Scores
from volseg.metrics._surface import surface_bf1, surface_bf1_counts, surface_halo

__all__ = [
    "BF1Counts",
    "BF1Scores",
    "bf1",
    "bf1_counts",
    "bf1_per_class",
    "bf1_scores",
    "bf1_table",
    "boundary",
    "confusion_matrix",
    "iou",
    "iou_per_class",
    "mean_ignoring_nan",
    "metrics_from_confusion",
    "pixel_accuracy",
    "surface_bf1",
    "surface_bf1_counts",
    "surface_halo",
]
