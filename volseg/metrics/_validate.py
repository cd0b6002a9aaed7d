"""Input checks shared by the metrics: label images, masks, tolerances, voxel sizes."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from volseg.errors import InputError


def check_same_shape(pred: np.ndarray, gt: np.ndarray) -> None:
    """Raise InputError naming both shapes when ``pred`` and ``gt`` differ in shape."""
    if pred.shape != gt.shape:
        raise InputError(
            f"prediction and ground truth differ in shape: pred {pred.shape} vs gt {gt.shape}; "
            "score arrays of the same region (crop or resample one of them)"
        )


def as_labels(a: object, name: str) -> np.ndarray:
    """Return ``a`` as a contiguous integer (or bool) array; InputError for anything else."""
    arr = np.asarray(a)
    if arr.dtype.kind not in "biu":
        extra = ""
        if arr.dtype.kind in "fc" and arr.size and np.isnan(arr).any():
            extra = " and contains NaN"
        raise InputError(
            f"{name} must be an integer label image, got dtype {arr.dtype}{extra}; "
            f"convert it first (e.g. np.rint({name}).astype(np.int32) after checking the values)"
        )
    return np.ascontiguousarray(arr)


def check_num_classes(num_classes: int) -> int:
    """Return ``num_classes`` as int; InputError unless it is an integer ≥ 1."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer):
        raise InputError(f"num_classes must be an integer ≥ 1, got {num_classes!r}")
    if num_classes < 1:
        raise InputError(f"num_classes must be ≥ 1, got {num_classes}")
    return int(num_classes)


def check_label_range(arr: np.ndarray, name: str, num_classes: int) -> None:
    """InputError naming the offending value when a label is outside [0, num_classes)."""
    if arr.size == 0:
        return
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0:
        raise InputError(f"{name} holds label {lo} < 0; labels must lie in [0, {num_classes})")
    if hi >= num_classes:
        raise InputError(
            f"{name} holds label {hi} but num_classes is {num_classes} (labels must lie in "
            f"[0, {num_classes})); pass num_classes={hi + 1} or fix the labels"
        )


def as_mask(a: object, name: str, ndims: Sequence[int]) -> np.ndarray:
    """Return ``a`` as a contiguous bool mask with ``ndim`` in ``ndims``.

    Bool arrays pass through untouched; numeric arrays must hold only 0 and 1 (no NaN).
    """
    arr = np.asarray(a)
    if arr.ndim not in ndims:
        want = " or ".join(f"{d}D" for d in ndims)
        raise InputError(
            f"{name} must be a {want} mask, got {arr.ndim}D array of shape {arr.shape}"
        )
    if arr.dtype == np.bool_:
        return np.ascontiguousarray(arr)
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name} must be a bool or 0/1 mask, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise InputError(f"{name} contains NaN; a mask must hold only 0/1 (or True/False)")
    nonzero = arr != 0
    wrong = nonzero & (arr != 1)
    if wrong.any():
        bad = arr[wrong].flat[0].item()
        raise InputError(
            f"{name} holds the value {bad!r}; a mask must hold only 0/1 (or True/False): "
            f"for a label image pick a class first (mask = labels == c)"
        )
    return nonzero


def check_tolerance(tolerance: float) -> float:
    """Return ``tolerance`` as float; InputError unless it is finite and > 0."""
    try:
        tol = float(tolerance)
    except (TypeError, ValueError):
        raise InputError(f"tolerance must be a number > 0, got {tolerance!r}") from None
    if not math.isfinite(tol) or tol <= 0:
        raise InputError(f"tolerance must be finite and > 0, got {tolerance!r}")
    return tol


def check_voxel_size(voxel_size: Sequence[float]) -> tuple[float, float, float]:
    """Return ``voxel_size`` as three floats (z, y, x); InputError unless finite and > 0."""
    try:
        vs = tuple(float(v) for v in voxel_size)
    except (TypeError, ValueError):
        raise InputError(
            f"voxel_size must be three numbers (z, y, x) in µm, got {voxel_size!r}"
        ) from None
    if len(vs) != 3 or not all(math.isfinite(v) and v > 0 for v in vs):
        raise InputError(
            f"voxel_size must be three finite numbers > 0 (z, y, x) in µm, got {voxel_size!r}"
        )
    return vs[0], vs[1], vs[2]
