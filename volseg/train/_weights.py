"""Class weights for the loss, derived from the class balance of the whole training data.

Foreground is rare in tomography (a few % of the pixels), so the cross-entropy is weighted
per class. Frequencies come from every annotated pixel (not from the random crops); for a
store they are counted with dask, chunk by chunk, so any volume size fits in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal, get_args

import dask
import numpy as np

from volseg.errors import ConfigError, InputError
from volseg.io import GROUND_TRUTH, VolumeStore, strict_labels
from volseg.train._data import SliceSet, check_slices

WeightMethod = Literal["inverse", "median", "none"]


def _frequencies(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    if total == 0:
        raise InputError("no labelled pixels to count classes from; give at least one slice")
    return counts.astype(np.float64) / float(total)


def class_frequencies(sets: SliceSet | Sequence[SliceSet]) -> np.ndarray:
    """Fraction of labelled pixels in each class, over whole slices.

    Parameters
    ----------
    sets
        One or more slice sets with the same classes.

    Returns
    -------
    numpy.ndarray
        float64 of length ``num_classes``, summing to 1; absent classes have 0.

    Raises
    ------
    InputError
        Sets with different classes, or no pixels.
    """
    sets = [sets] if isinstance(sets, SliceSet) else list(sets)
    if not sets:
        raise InputError("no slice sets to count classes from")
    classes = sets[0].classes
    for s in sets[1:]:
        if s.classes != classes:
            raise InputError(
                f"{s.source} has classes {s.classes} but {sets[0].source} has {classes}; "
                "train on sets that share one class list"
            )
    counts = np.zeros(len(classes), np.int64)
    for s in sets:
        for label in s.labels:
            counts += np.bincount(label.ravel(), minlength=len(classes))[: len(classes)]
    return _frequencies(counts)


def _chunk_counts(block: np.ndarray, num_classes: int) -> np.ndarray:
    # Values >= num_classes land in one extra bin, so a bad label cannot grow the result.
    flat = np.minimum(block.ravel(), num_classes).astype(np.intp)
    return np.bincount(flat, minlength=num_classes + 1)


def store_class_frequencies(
    path: str | Path,
    labels: str = GROUND_TRUTH,
    slices: Sequence[int] | None = None,
) -> np.ndarray:
    """Class frequencies of a store's labels image, counted with dask chunk by chunk.

    Parameters
    ----------
    path
        A complete volseg store.
    labels
        Name of the labels image.
    slices
        z indices to count (the annotated slices); ``None`` counts the whole volume.

    Returns
    -------
    numpy.ndarray
        float64 of length ``len(store.classes(labels))``, summing to 1; equal to
        :func:`class_frequencies` of ``load_store(path, labels=labels, slices=slices)``.

    Raises
    ------
    StoreNotFoundError, IncompleteStoreError
        No such store or labels image; an unfinished store.
    InputError
        A slice outside the volume, or label values without a class name.

    Notes
    -----
    Each dask chunk of the selected slices is reduced to a bincount by one task (memory:
    one chunk per worker); the counts are summed in int64. The computation runs on the
    current dask scheduler (a ``distributed`` client when one is active).
    """
    store = VolumeStore.open(path)
    store.require_complete()
    source = f"{store.path}/labels/{labels}"
    num_classes = len(store.classes(labels))
    volume = strict_labels(store.labels(labels)).to_dask()  # a damaged chunk named
    if slices is not None:
        volume = volume[check_slices(slices, volume.shape[0], source)]
    tasks = [
        dask.delayed(_chunk_counts)(block, num_classes) for block in volume.to_delayed().ravel()
    ]
    counts = np.stack(dask.compute(*tasks)).sum(axis=0, dtype=np.int64)
    if counts[num_classes]:
        raise InputError(
            f"{source} has {counts[num_classes]} voxels with label values >= {num_classes}, "
            f"but only classes {store.classes(labels)} are named; fix the labels or rename "
            "the classes (VolumeStore.set_classes)"
        )
    return _frequencies(counts[:num_classes])


def class_weights(freq: np.ndarray, *, method: WeightMethod = "inverse") -> np.ndarray:
    """Per-class loss weights from class frequencies.

    Parameters
    ----------
    freq
        Non-negative class frequencies (or pixel counts: the result does not depend on
        their scale), one per class.
    method
        ``"inverse"``: ``w_c ∝ 1 / freq_c``, scaled so that the weights of the classes
        present average to 1 (the loss keeps the magnitude of an unweighted one).
        ``"median"``: median-frequency balancing, ``w_c = median(freq) / freq_c`` with the
        median over the classes present (Eigen & Fergus 2015, as in SegNet).
        ``"none"``: all ones.

    Returns
    -------
    numpy.ndarray
        float32 weights, one per class. A class with zero frequency gets weight 0 (with
        ``"inverse"`` and ``"median"``; no warning): it has no pixels to weigh.

    Raises
    ------
    ConfigError
        An unknown method.
    InputError
        Frequencies that are not a 1D array of finite, non-negative numbers with a
        positive sum.

    Examples
    --------
    >>> class_weights(np.array([0.96, 0.04]))
    array([0.08, 1.92], dtype=float32)
    """
    f = np.asarray(freq, dtype=np.float64)
    if f.ndim != 1 or f.size == 0 or not np.isfinite(f).all() or (f < 0).any() or f.sum() <= 0:
        raise InputError(
            f"class frequencies must be a 1D array of finite non-negative numbers with a "
            f"positive sum, got {freq!r}"
        )
    if method == "none":
        return np.ones(f.size, np.float32)
    present = f > 0
    weights = np.zeros(f.size, np.float64)
    if method == "inverse":
        weights[present] = 1.0 / f[present]
        weights /= weights[present].mean()
    elif method == "median":
        weights[present] = np.median(f[present]) / f[present]
    else:
        raise ConfigError(
            f"unknown class weighting {method!r}; use one of {get_args(WeightMethod)}"
        )
    return weights.astype(np.float32)
