"""Plain numpy/scipy reference implementations of the metrics, for tests and benchmarks.

Written the obvious way (binary erosion, full Euclidean distance transform, bincount) with
no input checks: slow and memory-hungry, but easy to trust. The numba implementations
must agree with these exactly.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from volseg.metrics._scores import BF1Counts


def confusion_matrix_reference(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> np.ndarray:
    """``cm[g, p]`` by bincount of ``g * num_classes + p``."""
    flat = np.asarray(gt, np.int64).ravel() * num_classes + np.asarray(pred, np.int64).ravel()
    return np.bincount(flat, minlength=num_classes**2).reshape(num_classes, num_classes)


def boundary_reference(mask: np.ndarray) -> np.ndarray:
    """Mask minus its erosion by the cross (4- / 6-connected), outside = background."""
    m = np.asarray(mask, bool)
    cross = ndimage.generate_binary_structure(m.ndim, 1)
    return m & ~ndimage.binary_erosion(m, structure=cross, border_value=0)


def _distance_to(b: np.ndarray, sampling: tuple[float, ...]) -> np.ndarray:
    """Euclidean distance of every voxel to the nearest True voxel of ``b`` (inf if none)."""
    if not b.any():
        return np.full(b.shape, np.inf)
    return np.asarray(ndimage.distance_transform_edt(~b, sampling=sampling), np.float64)


def bf1_counts_reference(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    tolerance: float,
    inclusive: bool = False,
    voxel_size: tuple[float, ...] | None = None,
    core: tuple[int, int] | None = None,
) -> BF1Counts:
    """BF1 counts by distance transform (2D or 3D); ``core`` restricts counting to z-slices."""
    bp, bg = boundary_reference(pred), boundary_reference(gt)
    sampling = voxel_size if voxel_size is not None else (1.0,) * bp.ndim
    dp, dg = _distance_to(bp, sampling), _distance_to(bg, sampling)
    near_g = dg <= tolerance if inclusive else dg < tolerance
    near_p = dp <= tolerance if inclusive else dp < tolerance
    if core is not None:
        z = slice(*core)
        bp, bg, near_g, near_p = bp[z], bg[z], near_g[z], near_p[z]
    return BF1Counts(
        matched_pred=int((bp & near_g).sum()),
        n_pred=int(bp.sum()),
        matched_gt=int((bg & near_p).sum()),
        n_gt=int(bg.sum()),
    )
