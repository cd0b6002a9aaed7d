"""Error overlays in the study's colour code, and display downsampling of large slices."""

from __future__ import annotations

import numpy as np

from volseg.errors import InputError

#: The study's colour code (RGB): true positive white, true negative black,
#: false negative pink, false positive green.
OVERLAY_COLOURS: dict[str, tuple[int, int, int]] = {
    "true negative": (0, 0, 0),
    "true positive": (255, 255, 255),
    "false negative": (255, 105, 180),
    "false positive": (0, 200, 0),
}
_LUT = np.array(list(OVERLAY_COLOURS.values()), np.uint8)
#: Longest side of a slice shown at full detail; larger slices are reduced by an integer factor.
MAX_DISPLAY_SIDE = 1200


def _mask(labels: np.ndarray, cls: int | None, what: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise InputError(f"{what} must be a 2D slice, got shape {labels.shape}")
    if labels.dtype == np.bool_:
        return labels
    if labels.dtype.kind not in "ui":
        raise InputError(f"{what} has dtype {labels.dtype}; give integer labels or a bool mask")
    return labels != 0 if cls is None else labels == cls


def overlay_codes(pred: np.ndarray, gt: np.ndarray, *, cls: int | None = None) -> np.ndarray:
    """Per-pixel outcome codes: 0 TN, 1 TP, 2 FN, 3 FP (uint8) for class ``cls``."""
    p, g = _mask(pred, cls, "pred"), _mask(gt, cls, "gt")
    if p.shape != g.shape:
        raise InputError(f"pred has shape {p.shape} but gt has {g.shape}; they must match")
    codes = np.zeros(p.shape, np.uint8)
    codes[p & g] = 1
    codes[~p & g] = 2
    codes[p & ~g] = 3
    return codes


def overlay(
    pred: np.ndarray, gt: np.ndarray, *, cls: int | None = None, max_side: int | None = None
) -> np.ndarray:
    """An RGB error overlay of a predicted slice against its ground truth.

    Parameters
    ----------
    pred, gt
        2D label images (or bool masks) of equal shape.
    cls
        The class of interest; ``None`` takes every non-zero label as foreground.
    max_side
        Reduce the overlay by an integer factor until its longest side is at most this
        (the majority outcome of each block is shown); ``None`` keeps full resolution.

    Returns
    -------
    ndarray
        ``(H, W, 3)`` uint8: true positive white, true negative black, false negative pink,
        false positive green (:data:`OVERLAY_COLOURS`).
    """
    codes = overlay_codes(pred, gt, cls=cls)
    if max_side is not None:
        codes = reduce_labels(codes, display_factor(codes.shape, max_side))
    return _LUT[codes]


def display_factor(shape: tuple[int, ...], max_side: int = MAX_DISPLAY_SIDE) -> int:
    """The smallest integer factor that brings the longest side to at most ``max_side``."""
    return max(1, -(-max(shape) // max_side))


def _blocks(a: np.ndarray, f: int) -> np.ndarray:
    h, w = (a.shape[0] // f) * f, (a.shape[1] // f) * f
    return a[:h, :w].reshape(h // f, f, w // f, f).swapaxes(1, 2).reshape(h // f, w // f, f * f)


def reduce_image(image: np.ndarray, factor: int) -> np.ndarray:
    """Block mean of a 2D image (float32), trailing pixels dropped."""
    if factor == 1:
        return np.asarray(image, np.float32)
    return _blocks(np.asarray(image, np.float32), factor).mean(axis=-1)


def reduce_labels(labels: np.ndarray, factor: int) -> np.ndarray:
    """Block majority of a 2D label image (ties to the smaller label), trailing pixels dropped."""
    if factor == 1:
        return labels
    blocks = _blocks(labels, factor)
    n = int(labels.max(initial=0)) + 1
    counts = np.stack([(blocks == v).sum(axis=-1) for v in range(n)], axis=-1)
    return counts.argmax(axis=-1).astype(labels.dtype)
