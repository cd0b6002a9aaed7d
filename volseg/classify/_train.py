"""``train_classifier``: learn soma vs vessel from a segmentation and (sparse) ground truth.

The segmentation's objects are found, cut and measured exactly as :func:`classify` does,
so the classifier learns from the objects it will see. Each piece is labelled by the
ground truth under it on the annotated slices: the majority class of its annotated voxels.
A piece that crosses no annotated slice, or whose annotated voxels are mostly background
(a false detection), is left out of training.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from volseg.classify._features import FEATURES
from volseg.classify._file import save_classifier
from volseg.classify._measure import measure_objects
from volseg.classify._model import ObjectClassifier, fit_classifier
from volseg.classify._options import DEFAULT_FEATURE_VOXELS, ObjectOptions, open_segmentation
from volseg.classify._split import DEFAULT_NECK_RATIO
from volseg.errors import ClassifierError, ConfigError, InputError, StoreExistsError
from volseg.io import VolumeStore
from volseg.runtime import client_or_connect

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["TrainedClassifier", "train_classifier", "training_labels"]


@dataclass(frozen=True)
class TrainedClassifier:
    """What :func:`train_classifier` wrote: the classifier file, the training table
    (``<file>.csv``: every piece, its features, truth counts and ``label``: the class
    index, or -1 when left out) and the counts."""

    path: Path
    classifier: ObjectClassifier
    table_path: Path
    n_objects: int
    n_used: dict[str, int]
    n_unannotated: int
    n_false: int
    seconds: float


def training_labels(counts: np.ndarray) -> np.ndarray:
    """The training label of each piece from its truth counts ``(n, 1 + k)`` (background
    first, then the k classes): the majority class index ``0..k-1``, or -1 when the piece
    has no annotated voxel or its annotated voxels are mostly background."""
    counts = np.asarray(counts)
    if counts.shape[0] == 0:
        return np.zeros(0, np.int64)
    majority = np.argmax(counts, axis=1)
    annotated = counts.sum(axis=1) > 0
    return np.where(annotated & (majority > 0), majority - 1, -1).astype(np.int64)


def _annotated(slices: Sequence[int] | None, depth: int) -> tuple[int, ...] | None:
    if slices is None:
        return None
    chosen = tuple(sorted({int(s) for s in slices}))
    bad = [s for s in chosen if not 0 <= s < depth]
    if not chosen or bad:
        raise ConfigError(
            f"annotated slices must be within 0..{depth - 1}; got {bad or 'none'}: list the "
            "slices of the ground truth that were annotated"
        )
    return chosen


def train_classifier(
    segmented: str | Path,
    truth: str | Path,
    out: str | Path,
    *,
    labels: str = "segmentation",
    truth_labels: str = "ground_truth",
    classes: Sequence[str] | None = None,
    slices: Sequence[int] | None = None,
    min_voxels: int = 0,
    neck_ratio: float = DEFAULT_NECK_RATIO,
    split: bool = True,
    max_voxels: int = DEFAULT_FEATURE_VOXELS,
    seed: int = 0,
    client: Client | None = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> TrainedClassifier:
    """Train the object classifier and save it to ``out`` (one file).

    Parameters
    ----------
    segmented
        A complete store with the image and the class labels ``labels`` to learn from.
    truth
        A store with ground-truth class labels ``truth_labels`` of the same shape (the
        same store as ``segmented`` is fine).
    out
        The classifier file to write (e.g. ``classifier.vsclf``); the training table goes
        beside it as ``<out>.csv``.
    labels
        The label image of class ids in ``segmented``.
    truth_labels
        The label image of ground-truth class ids in ``truth``.
    classes
        The object classes, by name, in both stores (default: the truth's classes after
        the first, e.g. soma and vessel).
    slices
        The annotated slices of the truth (None: every slice is annotated).
    min_voxels, neck_ratio, split, max_voxels
        As for :func:`classify`; they are stored with the classifier and should match.
    seed
        Seed of the learner.
    client, scheduler, n_workers
        The dask cluster, as for :func:`classify`.
    overwrite
        Replace ``out`` if it exists.
    progress
        Draw progress bars on stderr.

    Returns
    -------
    TrainedClassifier
        The classifier file and the classifier, the training table (``<out>.csv``) and
        the counts of objects found and used per class.

    Raises
    ------
    ClassifierError
        Too few objects, or a class without any annotated object.
    InputError
        Stores of different shapes, or without the classes.
    StoreExistsError
        ``out`` exists and ``overwrite`` is false.
    """
    t0 = time.perf_counter()
    options = ObjectOptions(min_voxels, neck_ratio, split, max_voxels)
    out = Path(out)
    if out.exists() and not overwrite:
        raise StoreExistsError(f"{out} exists; pass --overwrite to replace it")
    gt = VolumeStore.open(truth)
    gt.require_complete()
    truth_names = gt.classes(truth_labels)
    chosen = list(classes) if classes is not None else truth_names[1:]
    missing = [c for c in chosen if c not in truth_names]
    if len(chosen) < 2 or missing:
        raise InputError(
            f"{gt.path} labels/{truth_labels} has the classes {truth_names}; the classifier "
            f"needs two or more object classes among them (asked: {chosen})"
        )
    volume = open_segmentation(segmented, labels, chosen)
    shape = volume.image(0).shape
    truth_array = gt.labels(truth_labels)
    if truth_array.shape != shape:
        raise InputError(
            f"the ground truth {gt.path} is {truth_array.shape}, the segmentation "
            f"{volume.path} {shape}: give the truth of the segmented volume"
        )
    annotated = _annotated(slices, shape[0])
    truth_ids = [0, *(truth_names.index(c) for c in chosen)]
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".volseg-work-{out.name}"
    try:
        with client_or_connect(client, scheduler, n_workers=n_workers) as c:
            measured = measure_objects(
                volume,
                labels=labels,
                classes=chosen,
                work=work,
                client=c,
                options=options,
                truth=truth_array,
                truth_ids=truth_ids,
                annotated=annotated,
                progress=progress,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = measured.table
    counts = table[[f"truth_{v}" for v in truth_ids]].to_numpy()
    label = training_labels(counts)
    used = label >= 0
    n_unannotated = int((counts.sum(axis=1) == 0).sum())
    n_false = int((~used).sum()) - n_unannotated
    if not used.any():
        raise ClassifierError(
            f"none of the {len(table)} objects of {volume.path} crosses an annotated slice "
            "with an object class: annotate slices that cross somas and vessels"
        )
    features = table.loc[used, list(FEATURES)].reset_index(drop=True)
    y = label[used]
    digest = hashlib.sha256(",".join(FEATURES).encode())
    digest.update(np.ascontiguousarray(features.to_numpy(np.float64)).tobytes())
    digest.update(np.ascontiguousarray(y).tobytes())
    classifier = fit_classifier(
        features,
        y,
        features=FEATURES,
        classes=chosen,
        seed=seed,
        metadata={
            "voxel_size": list(volume.voxel_size),
            "training_data_sha256": digest.hexdigest(),
            "segmented": str(volume.path.resolve()),
            "truth": str(gt.path.resolve()),
            "annotated_slices": None if annotated is None else list(annotated),
            **options.to_dict(),
        },
    )
    path = save_classifier(classifier, out)
    table = table.assign(label=label)
    table_path = out.with_name(out.name + ".csv")
    table.to_csv(table_path, index=False)
    n_used = {name: int((y == i).sum()) for i, name in enumerate(chosen)}
    return TrainedClassifier(
        path=path,
        classifier=classifier,
        table_path=table_path,
        n_objects=len(table),
        n_used=n_used,
        n_unannotated=n_unannotated,
        n_false=n_false,
        seconds=time.perf_counter() - t0,
    )
