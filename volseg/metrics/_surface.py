"""Surface boundary F1 of 3D masks with anisotropic voxels, whole or streamed in z-slabs."""

from __future__ import annotations

from collections.abc import Sequence

from volseg.errors import InputError
from volseg.metrics._bf1 import boundary_counts
from volseg.metrics._boundary import _boundary
from volseg.metrics._offsets import axis_steps, ball_offsets
from volseg.metrics._scores import BF1Counts, BF1Scores
from volseg.metrics._validate import as_mask, check_same_shape, check_tolerance, check_voxel_size


def surface_halo(voxel_size: Sequence[float], tolerance: float) -> int:
    """Number of z slices of halo a slab needs on each internal side for exact counts.

    Parameters
    ----------
    voxel_size : sequence of 3 float
        Voxel size (z, y, x) in µm.
    tolerance : float
        Match distance in µm.

    Returns
    -------
    int
        ``r_z + 1``, where ``r_z`` is the number of whole z steps within the tolerance
        (``r_z * voxel_size[0] <= tolerance``): matches reach ``r_z`` slices beyond the
        core, and deciding whether a voxel there is boundary needs one slice more. It is
        computed with ``<=``, so it also covers ``inclusive=True``.

    Examples
    --------
    >>> from volseg.metrics import surface_halo
    >>> surface_halo((1.0, 0.5, 0.5), 2.0), surface_halo((2.0, 0.5, 0.5), 1.5)
    (3, 1)
    """
    vs = check_voxel_size(voxel_size)
    return axis_steps(vs[0], check_tolerance(tolerance)) + 1


def surface_bf1_counts(
    pred: object,
    gt: object,
    *,
    voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
    tolerance: float,
    inclusive: bool = False,
    core: tuple[int, int] | None = None,
) -> BF1Counts:
    """Boundary match counts of two 3D masks, optionally of the core slices of a z-slab.

    Parameters
    ----------
    pred, gt : array_like
        3D masks (z, y, x) of the same shape, bool or 0/1.
    voxel_size : sequence of 3 float, default (1, 1, 1)
        Voxel size (z, y, x) in µm; distances are anisotropic Euclidean in µm.
    tolerance : float
        Match distance in µm; finite and > 0.
    inclusive : bool, default False
        Match at distance ``<= tolerance`` instead of ``< tolerance``.
    core : (int, int), optional
        ``(z0, z1)``: count (in all four counts) only boundary voxels with z in
        ``[z0, z1)``; matching partners may lie anywhere in the arrays. Default: all.

    Returns
    -------
    BF1Counts

    Raises
    ------
    InputError
        Shapes differ, masks are not 3D or not 0/1, bad tolerance or voxel size, or
        ``core`` is not ``0 <= z0 <= z1 <= depth``.

    Notes
    -----
    The boundary is the inner 6-connected boundary (:func:`boundary`), with everything
    outside the arrays as background; matching follows :func:`bf1`. To stream a volume,
    cut it into slabs whose cores tile ``[0, depth)``, extend each core by
    ``h >= surface_halo(voxel_size, tolerance)`` slices on its internal sides (clipped at
    the volume ends, where there is no halo), and pass ``core`` in slab coordinates: the
    sum of the slab counts equals the whole-volume counts exactly.

    Examples
    --------
    >>> import numpy as np
    >>> from volseg.metrics import surface_bf1_counts
    >>> gt = np.zeros((6, 8, 8), bool)
    >>> gt[1:5, 2:6, 2:6] = True
    >>> surface_bf1_counts(gt, gt, tolerance=1.0)
    BF1Counts(matched_pred=56, n_pred=56, matched_gt=56, n_gt=56)
    >>> surface_bf1_counts(gt, gt, tolerance=1.0, core=(0, 2))  # slices 0 and 1 only
    BF1Counts(matched_pred=16, n_pred=16, matched_gt=16, n_gt=16)
    """
    p = as_mask(pred, "pred", (3,))
    g = as_mask(gt, "gt", (3,))
    check_same_shape(p, g)
    tol = check_tolerance(tolerance)
    vs = check_voxel_size(voxel_size)
    depth = p.shape[0]
    if core is None:
        z_range = (0, depth)
    else:
        try:
            z0, z1 = (int(v) for v in core)
        except (TypeError, ValueError):
            raise InputError(f"core must be a pair of ints (z0, z1), got {core!r}") from None
        if not 0 <= z0 <= z1 <= depth:
            raise InputError(
                f"core {core!r} must satisfy 0 <= z0 <= z1 <= {depth} (the slab depth)"
            )
        z_range = (z0, z1)
    offsets = ball_offsets(tol, vs, inclusive=bool(inclusive))
    return boundary_counts(_boundary(p), _boundary(g), offsets, z_range)


def surface_bf1(
    pred: object,
    gt: object,
    *,
    voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
    tolerance: float,
    inclusive: bool = False,
) -> BF1Scores:
    """Surface boundary precision, recall and F1 of two whole 3D masks.

    The 3D version of :func:`bf1_scores`: 6-connected inner boundary, anisotropic
    Euclidean distance from ``voxel_size`` (z, y, x) µm, ``tolerance`` in µm, and the same
    NaN conventions (empty prediction: precision NaN; empty ground truth: recall NaN;
    score NaN if either is empty, 0 if both are non-empty and nothing matches). For a
    volume too large for memory, sum :func:`surface_bf1_counts` over slabs instead.

    Examples
    --------
    >>> import numpy as np
    >>> from volseg.metrics import surface_bf1
    >>> gt = np.zeros((6, 8, 8), bool)
    >>> gt[1:5, 2:6, 2:6] = True
    >>> pred = np.roll(gt, 1, axis=0)  # one slice (2 µm) down: z neighbours are not < 2 µm
    >>> round(surface_bf1(pred, gt, voxel_size=(2.0, 1.0, 1.0), tolerance=2.0).score, 4)
    0.7143
    >>> surface_bf1(pred, gt, voxel_size=(2.0, 1.0, 1.0), tolerance=2.0, inclusive=True).score
    1.0
    """
    return BF1Scores.from_counts(
        surface_bf1_counts(
            pred, gt, voxel_size=voxel_size, tolerance=tolerance, inclusive=inclusive
        )
    )
