"""``classify``: soma and vessel labels for a segmentation, from its 3D objects.

The union of the object classes becomes objects, the objects are cut at their necks and
measured (:func:`measure_objects`), a trained classifier names each piece, and the block
runtime writes ``labels/classified`` (classes) and ``labels/objects`` (piece ids) with the
guarantees of ``volseg segment``: run lock, done ledger, resume, completeness marked last.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from volseg.classify._features import FEATURES
from volseg.classify._file import load_classifier
from volseg.classify._measure import measure_objects
from volseg.classify._model import ObjectClassifier
from volseg.classify._objects import PLACEMENT
from volseg.classify._options import ObjectOptions, object_class_ids, open_segmentation
from volseg.classify._write import ClassifyBlock, write_lookup
from volseg.errors import ClassifierError, ConfigError, StoreExistsError
from volseg.io import VolumeStore, build_pyramid, provenance, strict_labels
from volseg.reconstruct import id_dtype
from volseg.reconstruct._output import (
    OBJECTS_CSV,
    OBJECTS_PARQUET,
    WORK_DIR,
    create_instance_labels,
    create_objects_store,
    set_object_properties,
    write_table,
)
from volseg.runtime import (
    RUN_DIR,
    BlockTask,
    Ledger,
    RunSummary,
    client_or_connect,
    open_run,
    plan_blocks,
    run_task,
)

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["CLASSIFIED", "CLASSIFIED_STORE", "INSTANCES", "ClassifyResult", "classify"]

CLASSIFIED_STORE = "classified.zarr"
#: Label images of the output: class per voxel, and object (piece) id per voxel.
CLASSIFIED = "classified"
INSTANCES = "objects"
#: Relative difference of voxel sizes from which a classifier is refused.
_VOXEL_TOLERANCE = 0.05


@dataclass(frozen=True)
class ClassifyResult:
    """How a classification ended. ``table`` has one row per object (``id``, ``class``,
    ``class_probability``, ``component``, ``piece``, placement and features); ``ok`` is
    False when blocks failed (the store stays incomplete: run again with resume)."""

    out_dir: Path
    store: Path
    table: pd.DataFrame
    summary: RunSummary
    n_components: int
    n_split: int
    seconds: float
    parquet: Path | None
    csv: Path | None

    @property
    def ok(self) -> bool:
        return self.summary.ok

    def count(self, cls: str) -> int:
        return int((self.table["class"] == cls).sum())


def check_voxel_size(classifier: ObjectClassifier, voxel_size: Sequence[float]) -> None:
    trained = classifier.metadata.get("voxel_size")
    if trained is None:
        return
    a, b = np.asarray(trained, float), np.asarray(voxel_size, float)
    if a.shape != b.shape or np.any(np.abs(a - b) > _VOXEL_TOLERANCE * np.maximum(a, b)):
        raise ClassifierError(
            f"the classifier was trained at voxel size {list(a)} µm, the volume has "
            f"{list(b)} µm; its size features would not mean the same: train a classifier "
            "on data at this voxel size"
        )


def classify(
    segmented: str | Path,
    classifier: str | Path | ObjectClassifier,
    out_dir: str | Path,
    *,
    labels: str = "segmentation",
    min_voxels: int | None = None,
    neck_ratio: float | None = None,
    split: bool | None = None,
    max_voxels: int | None = None,
    block_shape: Sequence[int] | None = None,
    client: Client | None = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> ClassifyResult:
    """Label every object of a segmentation soma or vessel, with a probability.

    Parameters
    ----------
    segmented
        A complete store with the image and class labels ``labels`` (``volseg segment``'s
        output) holding at least one of the classifier's classes.
    classifier
        A classifier file (``volseg classify train``), loaded with its sha256 checked.
    out_dir
        Receives ``classified.zarr`` (image and ``labels/<labels>`` hard-linked,
        ``labels/classified``, ``labels/objects``) and ``objects.parquet``/``.csv``.
    labels
        The label image of class ids in ``segmented``.
    min_voxels
        Objects smaller than this are dropped (background in the outputs).
    neck_ratio, split
        How objects are cut at their necks (:func:`split_object`); ``split=False`` keeps
        every connected component whole.
    max_voxels
        Objects with larger bounding boxes are cut and measured downsampled.

        These four default to the values the classifier was trained with (its objects
        were found and measured that way), else to 0, 0.6, True and 2²³.
    block_shape
        Voxels per write task (whole chunks; derived by default).
    client, scheduler, n_workers
        A dask client; else the scheduler to connect to (default ``DASK_SCHEDULER_ADDRESS``),
        else a local cluster of ``n_workers`` processes for the call (started after the
        inputs are checked).
    resume
        Continue an interrupted run in ``out_dir``: blocks done are not written again.
    overwrite
        Replace the outputs of an earlier run.
    progress
        Draw progress bars on stderr.

    Returns
    -------
    ClassifyResult
        The output folder and store, the object ``table`` (id, class, probability,
        placement, features), the run summary; ``count(name)`` counts the objects of a
        class and ``n_split`` the connected components cut at necks.

    Raises
    ------
    ClassifierError
        An altered or untrusted classifier file, or one trained on other features, classes
        or voxel size.
    InputError
        Labels without any of the classifier's classes.
    StoreExistsError, RunLockedError, ResumeMismatchError
        As for ``volseg segment``.

    Notes
    -----
    Object ids are the pieces in (connected component, piece) order; components are in
    :func:`scipy.ndimage.label` order and pieces by first voxel, so the output does not
    depend on blocks, workers or task order. An empty segmentation gives empty labels and
    a table with every column and no rows.
    """
    t0 = time.perf_counter()
    clf = classifier if isinstance(classifier, ObjectClassifier) else load_classifier(classifier)
    options = ObjectOptions.resolve(
        clf.metadata,
        min_voxels=min_voxels,
        neck_ratio=neck_ratio,
        split=split,
        max_voxels=max_voxels,
    )
    clf.check_compatible(features=FEATURES)
    volume = open_segmentation(segmented, labels, clf.classes)
    class_labels = volume.labels(labels)
    image = volume.image(0)
    check_voxel_size(clf, volume.voxel_size)
    class_ids = object_class_ids(volume, labels, clf.classes)
    grid = plan_blocks(class_labels.shape, class_labels.chunks, block_shape)
    plan_blocks(image.shape, image.chunks, grid.block_shape)
    out = Path(out_dir)
    path = out / CLASSIFIED_STORE
    config = {
        "segmented": str(volume.path.resolve()),
        "labels": labels,
        "class_ids": class_ids,
        "classifier_sha256": clf.sha256,
        "classes": list(clf.classes),
        **options.to_dict(),
        "block_shape": list(grid.block_shape),
    }
    if not resume:
        _check_new_output(path, out, overwrite=overwrite)
    output = _Output(volume, path, config, clf, overwrite=overwrite)
    with (
        open_run(
            path, create=output.create, reopen=output.reopen, resume=resume, overwrite=overwrite
        ) as store,
        client_or_connect(client, scheduler, n_workers=n_workers) as c,
    ):
        work = out / WORK_DIR
        measured = measure_objects(
            volume,
            labels=labels,
            classes=clf.classes,
            work=work,
            client=c,
            block_shape=grid.block_shape,
            options=options,
            progress=progress,
        )
        table = measured.table
        index, probability = clf.predict(table)
        n_final, lookup_sha, lookup = write_lookup(measured.pieces, index + 1, work)
        ledger = Ledger(store.path)  # a new run's was reset by open_run
        layout = {
            "shape": list(image.shape),
            "chunks": list(image.chunks),
            "config": config,
            "outcome_sha256": lookup_sha,
        }
        ledger.start(layout, resume=resume)
        if CLASSIFIED not in store.label_names:
            store.create_labels(CLASSIFIED, classes=["background", *clf.classes])
            create_instance_labels(
                store, INSTANCES, dtype=id_dtype(n_final), meta={**config, "n_objects": n_final}
            )
        task = ClassifyBlock(
            components=strict_labels(measured.components),
            classified=store.labels(CLASSIFIED),
            objects=store.labels(INSTANCES),
            lookup=str(lookup),
            work=str(work),
        )
        summary = run_task(BlockTask("classify", grid, task, done=ledger), c, progress=progress)
        result_table = _result_table(table, clf, index, probability)
        parquet = csv = None
        if summary.ok:
            if store.levels > 1:
                build_pyramid(store, labels=[CLASSIFIED, INSTANCES], image=False, progress=progress)
            set_object_properties(store, INSTANCES, result_table)
            parquet, csv = write_table(result_table, out)
            counts = {str(k): int((result_table["class"] == k).sum()) for k in clf.classes}
            store.mark_complete(
                classify={
                    "n_objects": n_final,
                    "classes": counts,
                    "seconds": round(time.perf_counter() - t0, 3),
                }
            )
            shutil.rmtree(work, ignore_errors=True)
    return ClassifyResult(
        out_dir=out,
        store=store.path,
        table=result_table,
        summary=summary,
        n_components=len(measured.pieces),
        n_split=sum(1 for p in measured.pieces if p.n > 1),
        seconds=time.perf_counter() - t0,
        parquet=parquet,
        csv=csv,
    )


def _check_new_output(path: Path, out: Path, *, overwrite: bool) -> None:
    """Refuse, before anything is written, to replace a classification without overwrite."""
    tables = [out / OBJECTS_PARQUET, out / OBJECTS_CSV]
    stored = path.is_dir() and any(p.name != RUN_DIR for p in path.iterdir())
    if not overwrite and (stored or path.is_file() or any(p.exists() for p in tables)):
        raise StoreExistsError(
            f"{out} holds a classification already; pass --overwrite to replace it, "
            "--resume to finish an interrupted run, or choose another output folder"
        )


@dataclass(frozen=True)
class _Output:
    """How the output store of a classification is made (a new run) or reopened (resume),
    both called holding its run lock (:func:`volseg.runtime.open_run`)."""

    volume: VolumeStore
    path: Path
    config: dict[str, Any]
    classifier: ObjectClassifier
    overwrite: bool

    def reopen(self) -> VolumeStore:
        if not (self.path / "zarr.json").is_file():
            raise ConfigError(f"--resume: {self.path} does not exist; run without --resume first")
        return VolumeStore.open(self.path, mode="a")

    def create(self) -> VolumeStore:
        config, clf = self.config, self.classifier
        return create_objects_store(
            self.volume,
            self.path,
            semantic=config["labels"],
            provenance=provenance(
                config=config,
                inputs=[
                    {"kind": "volume", "path": config["segmented"], "labels": config["labels"]},
                    {"kind": "classifier", "path": str(clf.path), "sha256": clf.sha256},
                ],
            ),
            overwrite=self.overwrite,
        )


def _result_table(
    table: pd.DataFrame,
    clf: ObjectClassifier,
    index: np.ndarray,
    probability: np.ndarray,
) -> pd.DataFrame:
    names = np.asarray(clf.classes, dtype=object)
    head = pd.DataFrame(
        {
            "id": np.arange(1, len(table) + 1, dtype=np.int64),
            "class": names[index] if len(table) else np.zeros(0, object),
            "class_probability": probability.astype(np.float64),
        }
    )
    body = table[["component", "piece", "downsample_factor", *PLACEMENT, *FEATURES]]
    result = pd.concat([head, body.reset_index(drop=True)], axis=1)
    ints = ["component", "piece", "voxels", *(c for c in PLACEMENT if c.startswith("bbox"))]
    return result.astype({c: np.int64 for c in ints})
