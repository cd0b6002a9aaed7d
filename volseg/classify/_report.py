"""Pictures and scores of a classification: meshes coloured by class, object accuracy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import trimesh

from volseg.classify._apply import CLASSIFIED, INSTANCES
from volseg.io import VolumeStore, derived_store, provenance, strict_labels
from volseg.io._layout import PALETTE
from volseg.reconstruct import export_objects
from volseg.viz import render_meshes

__all__ = [
    "ObjectAccuracy",
    "class_colours",
    "foreground_store",
    "object_accuracy",
    "render_classified",
]


def class_colours(store: str | Path) -> dict[str, tuple[float, float, float]]:
    """RGB (0..1) of each class of ``labels/classified``, as viewers show them."""
    names = VolumeStore.open(store).classes(CLASSIFIED)
    return {
        name: (
            PALETTE[i % len(PALETTE)][0] / 255,
            PALETTE[i % len(PALETTE)][1] / 255,
            PALETTE[i % len(PALETTE)][2] / 255,
        )
        for i, name in enumerate(names)
        if i > 0
    }


def render_classified(
    store: str | Path,
    table: pd.DataFrame,
    path: str | Path,
    *,
    meshes_dir: str | Path,
    title: str,
    max_faces: int = 200_000,
    simplify: float | None = 0.25,
) -> Path:
    """Mesh every object of a classification (PLY files into ``meshes_dir``, simplified to
    ``simplify`` of their faces so that the picture's face budget holds every object) and
    draw them in one 3D view coloured by class, with a legend; see
    :func:`volseg.viz.render_meshes`."""
    objects = VolumeStore.open(store)
    export = export_objects(
        strict_labels(objects.labels(INSTANCES)),
        table,
        meshes_dir,
        voxel_size=objects.voxel_size,
        formats=["ply"],
        skeletons="none",
        simplify=simplify,
        scene=False,
        progress=False,
    )
    colour = class_colours(store)
    classes = dict(zip(table["id"], table["class"], strict=True))
    meshes = {i: trimesh.load_mesh(files["ply"]) for i, files in export.mesh_files.items()}
    return render_meshes(
        meshes,
        path,
        title=title,
        colours={i: colour[classes[i]] for i in meshes},
        legend=colour,
        max_faces=max_faces,
    )


@dataclass(frozen=True)
class ObjectAccuracy:
    """Objects whose class is the truth's majority class of their voxels: ``right`` of
    ``scored``; objects mostly on true background (false detections) are not scored.
    ``truth`` is the majority class of every object (its index in the classes)."""

    right: int
    scored: int
    truth: np.ndarray

    @property
    def accuracy(self) -> float:
        return self.right / self.scored if self.scored else float("nan")


def object_accuracy(store: str | Path, table: pd.DataFrame, truth: np.ndarray) -> ObjectAccuracy:
    """Score the classes of ``table`` (a classification's objects in ``store``) against
    ``truth``, class labels whose values follow ``labels/classified`` (0 background, then
    the classes), of the volume's shape (in memory)."""
    names = VolumeStore.open(store).classes(CLASSIFIED)
    ids = strict_labels(VolumeStore.open(store).labels(INSTANCES))[:].astype(np.int64)
    counts = np.zeros((len(table) + 1, len(names)), np.int64)
    np.add.at(counts, (ids.ravel(), np.asarray(truth).astype(np.int64).ravel()), 1)
    majority = counts[1:, 1:].argmax(axis=1)
    scored = counts[1:, 1:].sum(axis=1) > counts[1:, 0]
    predicted = table["class"].map({c: i - 1 for i, c in enumerate(names)}).to_numpy()
    right = (predicted == majority) & scored
    return ObjectAccuracy(int(right.sum()), int(scored.sum()), majority)


def foreground_store(
    truth: str | Path, out: str | Path, *, labels: str = "ground_truth", overwrite: bool = False
) -> Path:
    """A store whose ``labels/segmentation`` is the truth's foreground as class 1, with the
    truth's class names: a perfect segmentation that says nothing of soma vs vessel. The
    input of an *oracle* classification, which isolates the classifier's errors from a
    network's (the image is hard-linked; the labels are written slab by slab)."""
    volume = VolumeStore.open(truth)
    volume.require_complete()
    gt = strict_labels(volume.labels(labels))
    store = derived_store(
        volume,
        out,
        provenance=provenance(config={"foreground_of": str(volume.path), "labels": labels}),
        overwrite=overwrite,
    )
    segmentation = store.create_labels("segmentation", classes=volume.classes(labels))
    step = gt.chunks[0]
    for z in range(0, gt.shape[0], step):
        segmentation[z : z + step] = (gt[z : z + step] > 0).astype(np.uint8)
    store.mark_complete()
    return Path(out)
