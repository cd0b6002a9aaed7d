"""The soma/vessel object classifier: a scikit-learn estimator that reads named features
and predicts named classes (fit, predict, compatibility checks, content sha256)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
import skops.io as sio
from numpy.typing import ArrayLike
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

import volseg
from volseg.errors import ClassifierError

__all__ = [
    "CLASSIFIER_FORMAT",
    "ObjectClassifier",
    "content_sha256",
    "fit_classifier",
]

CLASSIFIER_FORMAT = 1
_RETRAIN = "retrain with `volseg classify train`"


def _one_thread() -> threadpool_limits:
    # One thread fits hundreds of objects in 0.05 s and predicts 100k in under a second; on a
    # busy node (other jobs, dask workers) libgomp's barriers stretch that fit to minutes.
    return threadpool_limits(limits=1, user_api="openmp")


@dataclass(frozen=True)
class ObjectClassifier:
    """A fitted object classifier; build it with :func:`fit_classifier` or :func:`load_classifier`.

    ``estimator`` is fitted on the ``features`` columns in that order, with ``classes_`` equal to
    ``0..k-1`` naming ``classes`` in order. ``metadata`` is plain JSON. ``sha256`` is
    :func:`content_sha256` of ``estimator_bytes`` (the skops serialization that
    :func:`save_classifier` writes, kept because two skops dumps of one estimator differ),
    ``features``, ``classes`` and ``metadata``: the identity of everything the file holds.
    ``path`` is the file it was loaded from, if any.
    """

    estimator: HistGradientBoostingClassifier
    features: tuple[str, ...]
    classes: tuple[str, ...]
    metadata: dict[str, Any]
    sha256: str
    path: Path | None = None
    estimator_bytes: bytes = field(default=b"", repr=False, compare=False)

    def __post_init__(self) -> None:
        content = content_sha256(self.estimator_bytes, self.features, self.classes, self.metadata)
        if content != self.sha256:
            raise ClassifierError(
                "ObjectClassifier.sha256 is not the sha256 of its estimator_bytes and header; "
                "build classifiers with fit_classifier or load_classifier"
            )

    def probabilities(self, table: pd.DataFrame) -> np.ndarray:
        """Class probabilities, ``(n, k)`` float64 with rows summing to 1; ``(0, k)`` if n == 0.

        Reads the ``features`` columns of ``table``, in order; other columns are ignored.

        Raises
        ------
        ClassifierError
            If a feature column is missing, not numeric or holds NaN/inf (each named).
        """
        x = _matrix(table, self.features)
        if len(x) == 0:
            return np.zeros((0, len(self.classes)))
        with _one_thread():
            return np.asarray(self.estimator.predict_proba(x), dtype=np.float64)

    def predict(self, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Most probable class index of each row (int64; ties go to the lower index) and its
        probability (float64). Raises like :meth:`probabilities`."""
        proba = self.probabilities(table)
        index = np.argmax(proba, axis=1).astype(np.int64)
        return index, proba[np.arange(len(index)), index]

    def check_compatible(
        self, *, features: Sequence[str], classes: Sequence[str] | None = None
    ) -> None:
        """Raise :class:`ClassifierError` unless every feature this classifier reads is among
        ``features`` and (when given) ``classes`` are exactly its classes, in order."""
        available = set(features)
        missing = [f for f in self.features if f not in available]
        if missing:
            raise ClassifierError(
                f"the classifier reads feature(s) {missing} that are not available "
                f"(available: {list(features)}); {_RETRAIN} on the current features"
            )
        if classes is not None and tuple(classes) != self.classes:
            raise ClassifierError(
                f"the classifier predicts classes {list(self.classes)} but {list(classes)} are "
                f"wanted; {_RETRAIN} with those classes"
            )


def content_sha256(
    estimator_bytes: bytes,
    features: Sequence[str],
    classes: Sequence[str],
    metadata: Mapping[str, Any],
) -> str:
    """The hex sha256 of a classifier's content: the estimator bytes, then the features,
    classes and metadata as canonical JSON. Editing any of them (swapping the class names
    would invert every prediction) changes it."""
    digest = hashlib.sha256(estimator_bytes)
    header = {"features": list(features), "classes": list(classes), "metadata": metadata}
    digest.update(json.dumps(header, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()


def _names(values: Any, what: str) -> tuple[str, ...]:
    listed = isinstance(values, Iterable) and not isinstance(values, str | Mapping)
    names = tuple(values) if listed else ()
    if (
        not names
        or not all(isinstance(v, str) and v for v in names)
        or len(set(names)) < len(names)
    ):
        raise ClassifierError(f"{what} must be a non-empty list of distinct strings: {values!r}")
    return names


def _matrix(table: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    missing = [f for f in features if f not in table.columns]
    if missing:
        raise ClassifierError(
            f"the feature table lacks column(s) {missing} (it has {list(table.columns)}); "
            "compute the features the classifier was trained on"
        )
    text = [f for f in features if not pd.api.types.is_numeric_dtype(table[f])]
    if text:
        raise ClassifierError(f"feature column(s) {text} are not numeric")
    x = table[list(features)].to_numpy(dtype=np.float64)
    bad = [f for f, ok in zip(features, np.isfinite(x).all(axis=0), strict=True) if not ok]
    if bad:
        raise ClassifierError(
            f"feature column(s) {bad} hold NaN or infinite values; fix how they are computed "
            "or drop those objects"
        )
    return x


def _json_copy(value: Any) -> dict[str, Any]:
    try:
        if not isinstance(value, Mapping):
            raise TypeError(f"got a {type(value).__name__}, not a dict")
        out: dict[str, Any] = json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ClassifierError(
            "classifier metadata must be a dict of plain JSON types (dict, list, str, int, "
            f"float, bool, None; no NaN): {exc}; convert numpy values with .tolist() or float()"
        ) from None
    return out


def fit_classifier(
    table: pd.DataFrame,
    labels: ArrayLike,
    *,
    features: Sequence[str],
    classes: Sequence[str],
    metadata: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> ObjectClassifier:
    """Fit a classifier of objects (the rows of ``table``) into ``classes``.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per annotated object, holding at least the ``features`` columns.
    labels : array_like of int
        Class index of each row, ``0..len(classes)-1``; every class must occur.
    features, classes : sequence of str
        Columns to learn from (in the order they will be read) and at least two class names.
    metadata : mapping, optional
        Plain JSON (voxel size, training data sha256, ...). ``volseg_version``,
        ``sklearn_version``, ``n_train`` (objects per class), ``created`` (UTC ISO 8601) and
        ``format`` are added, replacing keys of those names.
    seed : int, default 0
        ``random_state`` of the estimator.

    Returns
    -------
    ObjectClassifier
        With ``sha256`` set and ``path`` None.

    Raises
    ------
    ClassifierError
        With fewer than 4 objects, labels and rows differing in number, a label outside
        ``0..k-1``, a class without objects, a feature missing, not numeric or not finite (each
        named), or non-JSON metadata.

    Notes
    -----
    Training sets are small (a user annotates a few slices: tens to hundreds of objects),
    hence balanced class weights, no early stopping (no validation split to spare) and
    ``min_samples_leaf = max(2, min(20, n // 10))``.
    """
    features, classes = _names(features, "features"), _names(classes, "classes")
    if len(classes) < 2:
        raise ClassifierError(f"a classifier needs at least 2 classes, got {list(classes)}")
    y = np.asarray(labels)
    n = len(table)
    if y.shape != (n,):
        raise ClassifierError(f"the table has {n} rows but labels have shape {y.shape}")
    if n < 4:
        raise ClassifierError(f"only {n} training objects; annotate more slices (at least 4)")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= len(classes):
        raise ClassifierError(
            f"labels must be integer class indices 0..{len(classes) - 1} for {list(classes)}; "
            f"got {y.dtype} values {np.unique(y)[:8].tolist()}"
        )
    counts = np.bincount(y, minlength=len(classes)).tolist()
    n_train = dict(zip(classes, counts, strict=True))
    absent = [c for c, k in n_train.items() if k == 0]
    if absent:
        raise ClassifierError(
            f"no {' or '.join(absent)} objects among the {n} training objects ({n_train}): "
            f"annotate slices that cross {' and '.join(absent)} objects too"
        )
    x = _matrix(table, features)
    meta = _json_copy({} if metadata is None else metadata)
    with _one_thread():
        estimator = HistGradientBoostingClassifier(
            random_state=seed,
            class_weight="balanced",
            min_samples_leaf=max(2, min(20, n // 10)),
            max_iter=200,
            early_stopping=False,
        ).fit(x, y)
    raw = sio.dumps(estimator)
    meta |= {
        "volseg_version": volseg.__version__,
        "sklearn_version": sklearn.__version__,
        "n_train": n_train,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "format": CLASSIFIER_FORMAT,
    }
    sha = content_sha256(raw, features, classes, meta)
    return ObjectClassifier(estimator, features, classes, meta, sha, estimator_bytes=raw)
