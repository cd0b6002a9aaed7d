"""Boundary F1 (BF) score of 2D masks, exactly as MATLAB's ``bfscore``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from volseg.errors import InputError
from volseg.metrics import _kernels
from volseg.metrics._boundary import _boundary
from volseg.metrics._offsets import planar_offsets, row_stencil
from volseg.metrics._scores import BF1Counts, BF1Scores
from volseg.metrics._validate import (
    as_labels,
    as_mask,
    check_label_range,
    check_num_classes,
    check_same_shape,
    check_tolerance,
)


def boundary_counts(
    pred_boundary: np.ndarray,
    gt_boundary: np.ndarray,
    offsets: np.ndarray,
    z_range: tuple[int, int],
) -> BF1Counts:
    """Match two 3D boundary masks both ways over the stencil ``offsets``.

    Only boundary voxels with z in ``z_range`` are counted; matches may lie anywhere.
    """
    z0, z1 = z_range
    rows = row_stencil(offsets)
    with _kernels.threads_for(pred_boundary.size):
        mp, n_p = _kernels.match_counts(pred_boundary, gt_boundary, rows, z0, z1)
        mg, n_g = _kernels.match_counts(gt_boundary, pred_boundary, rows, z0, z1)
    return BF1Counts(int(mp), int(n_p), int(mg), int(n_g))


def _masks_2d(pred: object, gt: object) -> tuple[np.ndarray, np.ndarray]:
    p = as_mask(pred, "pred", (2,))
    g = as_mask(gt, "gt", (2,))
    check_same_shape(p, g)
    return p, g


def _counts_2d(p: np.ndarray, g: np.ndarray, tol: float, inclusive: bool) -> BF1Counts:
    offsets = planar_offsets(tol, inclusive=inclusive)
    bp, bg = _boundary(p)[None], _boundary(g)[None]
    return boundary_counts(bp, bg, offsets, (0, 1))


def bf1_counts(
    pred: object, gt: object, *, tolerance: float = 2.0, inclusive: bool = False
) -> BF1Counts:
    """Boundary match counts of two 2D masks (see :func:`bf1` for the definitions).

    Counts add up: sum them over images or tiles that do not overlap, then call
    :meth:`BF1Scores.from_counts` once. (Tiles of one image do not add up exactly, since
    boundaries and matches cross tile edges; score whole images.)

    Examples
    --------
    >>> import numpy as np
    >>> from volseg.metrics import bf1_counts
    >>> gt = np.zeros((8, 8), bool)
    >>> gt[2:6, 2:6] = True
    >>> bf1_counts(np.roll(gt, 2, axis=1), gt)
    BF1Counts(matched_pred=8, n_pred=12, matched_gt=8, n_gt=12)
    """
    p, g = _masks_2d(pred, gt)
    return _counts_2d(p, g, check_tolerance(tolerance), bool(inclusive))


def bf1_scores(
    pred: object, gt: object, *, tolerance: float = 2.0, inclusive: bool = False
) -> BF1Scores:
    """Boundary precision, recall and F1 of two 2D masks (see :func:`bf1`).

    Examples
    --------
    >>> import numpy as np
    >>> from volseg.metrics import bf1_scores
    >>> gt = np.zeros((8, 8), bool)
    >>> gt[2:6, 2:6] = True
    >>> bf1_scores(np.zeros_like(gt), gt)
    BF1Scores(precision=nan, recall=0.0, score=nan)
    """
    return BF1Scores.from_counts(bf1_counts(pred, gt, tolerance=tolerance, inclusive=inclusive))


def bf1(pred: object, gt: object, *, tolerance: float = 2.0, inclusive: bool = False) -> float:
    """Boundary F1 score of a predicted 2D mask against a ground-truth mask.

    Parameters
    ----------
    pred, gt : array_like
        2D masks of the same shape, bool or 0/1.
    tolerance : float, default 2.0
        Match distance in pixels; finite and > 0.
    inclusive : bool, default False
        Match at distance ``<= tolerance`` instead of ``< tolerance``.

    Returns
    -------
    float
        The BF score in [0, 1], or NaN (see Notes).

    Raises
    ------
    InputError
        Shapes differ, a mask is not 2D (use :func:`surface_bf1` for volumes), holds values
        other than 0/1 or NaN, or ``tolerance`` is not finite and > 0.

    Notes
    -----
    Follows MATLAB's ``bfscore`` for binary masks, so numbers compare with published ones:

    - The boundary of a mask is its inner 4-connected boundary, :func:`boundary` (the mask
      minus its erosion by the 3x3 cross; outside the image is background).
    - A boundary pixel is *matched* when a boundary pixel of the other mask lies at
      Euclidean distance strictly less than ``tolerance`` (``<=`` with ``inclusive``).
      With the default tolerance 2, a boundary shifted by 1 px matches, by 2 px it does
      not (it does with ``inclusive=True``), by 3 px never.
    - precision P = matched predicted / predicted boundary pixels; recall R = matched
      ground-truth / ground-truth boundary pixels; score = 2PR / (P + R).
    - Empty prediction: P is NaN. Empty ground truth: R is NaN. The score is NaN when
      either mask is empty (both empty included), and 0 — not NaN — when both are
      non-empty and nothing matches.

    The result is exact: for each boundary pixel, numba kernels scan the integer offsets
    inside the tolerance disk (as runs along x, nearest row first) in the other boundary
    mask; no distance transform is computed. Distances are decided exactly as
    ``scipy.ndimage.distance_transform_edt`` computes them, so the counts equal the
    distance-transform formulation bit for bit (the tests check this).

    Examples
    --------
    >>> import numpy as np
    >>> from volseg.metrics import bf1
    >>> gt = np.zeros((8, 8), bool)
    >>> gt[2:6, 2:6] = True
    >>> bf1(gt, gt)
    1.0
    >>> bf1(np.roll(gt, 1, axis=1), gt)  # every boundary pixel within 1 px
    1.0
    >>> round(bf1(np.roll(gt, 2, axis=1), gt), 4)  # only the shared top/bottom rows match
    0.6667
    >>> bf1(np.roll(gt, 2, axis=1), gt, inclusive=True)
    1.0
    >>> bf1(np.zeros_like(gt), gt)
    nan
    """
    return bf1_scores(pred, gt, tolerance=tolerance, inclusive=inclusive).score


def bf1_per_class(
    pred_labels: object,
    gt_labels: object,
    num_classes: int,
    *,
    tolerance: float = 2.0,
    inclusive: bool = False,
) -> list[BF1Scores]:
    """Boundary F1 of each class of a 2D label image (class ``c`` mask = ``labels == c``).

    Returns
    -------
    list of BF1Scores
        One per class ``0 .. num_classes - 1``; NaN entries follow :func:`bf1`.

    Raises
    ------
    InputError
        Shapes differ, labels are not 2D integers, or a label is outside
        ``[0, num_classes)`` (the message names the value).

    Examples
    --------
    >>> import numpy as np
    >>> from volseg.metrics import bf1_per_class
    >>> gt = np.zeros((8, 8), np.uint8)
    >>> gt[2:6, 2:6] = 1
    >>> [s.score for s in bf1_per_class(gt, gt, 3)]
    [1.0, 1.0, nan]
    """
    n = check_num_classes(num_classes)
    tol = check_tolerance(tolerance)
    p = as_labels(pred_labels, "pred_labels")
    g = as_labels(gt_labels, "gt_labels")
    check_same_shape(p, g)
    if p.ndim != 2:
        raise InputError(f"label images must be 2D, got shape {p.shape}; score slices one by one")
    check_label_range(p, "pred_labels", n)
    check_label_range(g, "gt_labels", n)
    return [
        BF1Scores.from_counts(_counts_2d(p == c, g == c, tol, bool(inclusive))) for c in range(n)
    ]


def bf1_table(
    preds: Sequence[object],
    gts: Sequence[object],
    *,
    tolerance: float = 2.0,
    inclusive: bool = False,
) -> list[BF1Scores]:
    """Boundary F1 of each image of a set (pairs ``preds[i]``, ``gts[i]`` of 2D masks).

    Returns
    -------
    list of BF1Scores
        One per image, in order.

    Raises
    ------
    InputError
        The sequences differ in length, or any pair fails the checks of :func:`bf1` (the
        message names the image index).

    Notes
    -----
    The aggregate score of a set, as MATLAB and most papers report it, is the mean over
    images ignoring NaN (images where either mask is empty):
    ``mean_ignoring_nan(s.score for s in table)``. That differs from pooling counts over
    the set (sum :func:`bf1_counts`, then :meth:`BF1Scores.from_counts`), which weighs
    images by boundary length; say which one you report.

    Examples
    --------
    >>> import numpy as np
    >>> from volseg.metrics import bf1_table, mean_ignoring_nan
    >>> gt = np.zeros((8, 8), bool)
    >>> gt[2:6, 2:6] = True
    >>> table = bf1_table([gt, np.roll(gt, 2, axis=1), gt], [gt, gt, np.zeros_like(gt)])
    >>> [round(s.score, 4) for s in table]
    [1.0, 0.6667, nan]
    >>> round(mean_ignoring_nan(s.score for s in table), 4)
    0.8333
    """
    if len(preds) != len(gts):
        raise InputError(
            f"bf1_table needs one ground truth per prediction: got {len(preds)} predictions "
            f"and {len(gts)} ground truths"
        )
    tol = check_tolerance(tolerance)
    out = []
    for i, (pred, gt) in enumerate(zip(preds, gts, strict=True)):
        try:
            p, g = _masks_2d(pred, gt)
        except InputError as exc:
            raise InputError(f"image {i}: {exc}") from None
        out.append(BF1Scores.from_counts(_counts_2d(p, g, tol, bool(inclusive))))
    return out
