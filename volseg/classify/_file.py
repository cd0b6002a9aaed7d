"""The classifier file: one zip of a JSON header and the skops-serialized estimator, with a
content sha256 and an allow-list of types checked before anything is built; no pickle."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import skops.io as sio

from volseg._files import write_atomically
from volseg.classify._model import (
    _RETRAIN,
    CLASSIFIER_FORMAT,
    ObjectClassifier,
    _json_copy,
    _names,
    content_sha256,
)
from volseg.errors import ClassifierError, InputNotFoundError

__all__ = ["ALLOWED", "load_classifier", "save_classifier"]

_HEADER, _ESTIMATOR = "volseg_classifier.json", "estimator.skops"

# Every type in the skops file of a fitted HistGradientBoostingClassifier (binary and
# multiclass, scikit-learn 1.9). skops trusts every sklearn estimator by default, so its own
# audit would pass a Pipeline or any estimator; files are checked against this list instead.
ALLOWED: tuple[str, ...] = (
    "builtins.dict",
    "builtins.list",
    "builtins.str",
    "builtins.tuple",
    "numpy.ndarray",
    "numpy.random._generator.Generator",
    "numpy.uint64",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.preprocessing._label.LabelEncoder",
)
# The skops node kinds those are stored as; the others (function, method, partial, operator,
# reduce) call code that the file names.
_NODE_KINDS = frozenset(
    {
        "CachedNode",
        "DictNode",
        "JsonNode",
        "ListNode",
        "LossNode",
        "NdArrayNode",
        "ObjectNode",
        "RandomGeneratorNode",
        "TupleNode",
        "TypeNode",
    }
)


def save_classifier(classifier: ObjectClassifier, path: str | os.PathLike[str]) -> Path:
    """Write ``classifier`` to one file, atomically.

    Parameters
    ----------
    classifier : ObjectClassifier
        From :func:`fit_classifier` or :func:`load_classifier`.
    path : str or os.PathLike
        The file to write (e.g. ``classifier.vsclf``); folders are created, a file replaced.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ClassifierError
        If ``classifier.metadata`` is not plain JSON.

    Notes
    -----
    A zip of ``volseg_classifier.json`` (format, features, classes, metadata,
    sha256, the :func:`content_sha256` of all of it) and ``estimator.skops``
    (``classifier.estimator_bytes``), no pickle,
    written to a temporary file in the same folder and renamed over ``path``. The same
    classifier gives the same bytes.
    """
    header = {
        "format": CLASSIFIER_FORMAT,
        "features": list(classifier.features),
        "classes": list(classifier.classes),
        "metadata": _json_copy(classifier.metadata),
        "sha256": classifier.sha256,
    }
    members = {
        _HEADER: json.dumps(header, indent=2).encode(),
        _ESTIMATOR: classifier.estimator_bytes,
    }

    def write(f: BinaryIO) -> None:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data in members.items():
                # a fixed date, so that the same classifier gives the same bytes
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)

    return write_atomically(path, write)


def _fail(file: Path, problem: str, exc: BaseException | None = None) -> ClassifierError:
    cause = f": {type(exc).__name__}: {str(exc)[:200]}" if exc is not None else ""
    return ClassifierError(f"{file} {problem}{cause}; {_RETRAIN}")


def _read_header(file: Path) -> tuple[dict[str, Any], bytes]:
    try:
        with zipfile.ZipFile(file) as zf:
            missing = [m for m in (_HEADER, _ESTIMATOR) if m not in zf.namelist()]
            text, raw = (b"", b"") if missing else (zf.read(_HEADER), zf.read(_ESTIMATOR))
    except Exception as exc:
        raise _fail(
            file, "is not a readable volseg classifier (not a zip, or corrupted)", exc
        ) from None
    if missing:
        raise _fail(file, f"is a zip file but not a volseg classifier: it lacks {missing}")
    try:
        header = json.loads(text)
    except ValueError as exc:
        raise _fail(file, f"has an invalid {_HEADER}", exc) from None
    fmt = header.get("format") if isinstance(header, dict) else None
    if type(fmt) is not int or fmt != CLASSIFIER_FORMAT:
        raise _fail(file, f"has format {fmt!r}; this volseg reads format {CLASSIFIER_FORMAT}")
    header["features"] = _names(header.get("features"), f"{file}: features")
    header["classes"] = _names(header.get("classes"), f"{file}: classes")
    if not isinstance(header.get("metadata"), dict) or "sha256" not in header:
        raise _fail(file, f"has no metadata object or sha256 in {_HEADER}")
    return header, raw


def _collect_types(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        if "__class__" in node or "__loader__" in node:
            found.add(f"{node.get('__module__')}.{node.get('__class__')}")
            if node.get("__loader__") not in _NODE_KINDS:
                found.add(f"skops loader {node.get('__loader__')}")
        for value in node.values():
            _collect_types(value, found)
    elif isinstance(node, list):
        for value in node:
            _collect_types(value, found)


def _check_types(file: Path, raw: bytes) -> None:
    found: set[str] = set()
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            _collect_types(json.loads(zf.read("schema.json")), found)
        # skops's audit also reports names it would resolve from strings (bit generators)
        found.update(sio.get_untrusted_types(data=raw))
    except Exception as exc:
        raise _fail(file, f"has a {_ESTIMATOR} that is not a readable skops file", exc) from None
    if unexpected := sorted(found - set(ALLOWED)):
        raise ClassifierError(
            f"{file} holds types not on volseg's allow-list: {unexpected}; refusing to load it"
        )


def load_classifier(
    path: str | os.PathLike[str], *, expected_sha256: str | None = None
) -> ObjectClassifier:
    """Load a classifier written by :func:`save_classifier`, checking its hash and types.

    Parameters
    ----------
    path : str or os.PathLike
        The classifier file.
    expected_sha256 : str, optional
        Refuse the file unless its content has this hex sha256 (e.g. one a run recorded).

    Returns
    -------
    ObjectClassifier
        With ``path`` set.

    Raises
    ------
    InputNotFoundError
        If ``path`` does not exist.
    ClassifierError
        If the file is not a classifier zip, lacks a member, has another format or a bad
        header, its content sha256 (estimator and header) differs from the recorded one
        (altered) or from
        ``expected_sha256``, it holds types outside :data:`ALLOWED`, or its estimator does not
        match the features and classes it lists.

    Notes
    -----
    The hash and the types are checked before skops builds anything, and skops reads arrays
    with ``allow_pickle=False``: loading never unpickles or runs code from the file.
    """
    file = Path(path)
    if not file.is_file():
        raise InputNotFoundError(
            f"classifier not found: {file} does not exist or is not a file; train one with "
            "`volseg classify train`"
        )
    header, raw = _read_header(file)
    recorded = header["sha256"]
    digest = content_sha256(raw, header["features"], header["classes"], header["metadata"])
    if digest != recorded:
        raise ClassifierError(
            f"{file} was altered: its content sha256 is {digest}, the file records "
            f"{recorded}; use the original file or {_RETRAIN}"
        )
    if expected_sha256 is not None and digest != expected_sha256.strip().lower():
        raise ClassifierError(
            f"{file} has sha256 {digest} but {expected_sha256} was expected; use "
            "the classifier the run was started with, or drop the expected hash"
        )
    _check_types(file, raw)
    saved_with = header["metadata"].get("sklearn_version")
    try:
        estimator = sio.loads(raw, trusted=list(ALLOWED))
    except Exception as exc:
        raise _fail(
            file, f"cannot be rebuilt (saved with scikit-learn {saved_with})", exc
        ) from None
    features, classes = header["features"], header["classes"]
    n_in = getattr(estimator, "n_features_in_", None)
    fitted = getattr(estimator, "classes_", np.empty(0))
    if n_in != len(features) or not np.array_equal(fitted, np.arange(len(classes))):
        raise _fail(
            file,
            f"lists features {list(features)} and classes {list(classes)} but its estimator "
            f"reads {n_in} features and has classes {fitted}",
        )
    metadata = header["metadata"]
    return ObjectClassifier(
        estimator, features, classes, metadata, digest, file, estimator_bytes=raw
    )
