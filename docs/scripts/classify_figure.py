"""Make the pictures of docs/classify.md from two phantoms and the real classify pipeline.

python docs/scripts/classify_figure.py      # writes docs/images/classify_*.png, ~2 min

A classifier is trained on one phantom (seed 0, every 4th slice annotated) and applied to
another (seed 1). Both are given as "foreground-only" segmentations (the ground truth's
soma ∪ vessel as one class, as the oracle row of benchmarks/bench_classify.py does), so the
pictures show the classifier alone, not a network's mistakes. Prints the numbers the page
quotes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from volseg.classify import (
    CLASSIFIED,
    classify,
    foreground_store,
    object_accuracy,
    render_classified,
    train_classifier,
)
from volseg.io import VolumeStore
from volseg.io._layout import PALETTE
from volseg.phantom import PhantomConfig, generate_phantom
from volseg.runtime import connect
from volseg.viz import save_figure

IMAGES = Path(__file__).resolve().parents[1] / "images"
SHAPE = (48, 320, 320)
ANNOTATED = range(0, SHAPE[0], 4)
MIN_VOXELS = 200
#: Enough for every object of the test phantom (render_meshes draws the largest first)
MAX_FACES = 600_000
CLASSES = ("soma", "vessel")
COLOURS = {name: tuple(v / 255 for v in PALETTE[i + 1][:3]) for i, name in enumerate(CLASSES)}


def _phantom(path: Path, seed: int) -> Path:
    config = PhantomConfig(
        shape=SHAPE, seed=seed, vessel_density=300, soma_fraction=0.08, soma_median_diameter=16.0
    )
    generate_phantom(path, config, num_workers=2, progress=False)
    return path


def _features_picture(training_table: Path) -> Path:
    """Two of the features that separate the classes, for the objects trained on."""
    table = pd.read_csv(training_table)
    table = table[table["label"] >= 0]
    fig = Figure(figsize=(10.5, 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    panels = [
        (
            "z_over_xy",
            "ball_fill",
            "z extent / xy extent  (z_over_xy)",
            "volume / largest inscribed ball  (ball_fill, log)",
        ),
        (
            "elongation",
            "z_area_mean_over_max",
            "elongation  (√ of covariance eigenvalue ratio)",
            "mean / max slice area  (z_area_mean_over_max)",
        ),
    ]
    for ax, (x, y, xlabel, ylabel) in zip(axes, panels, strict=True):
        for index, name in enumerate(CLASSES):
            rows = table[table["label"] == index]
            ax.scatter(
                rows[x],
                rows[y],
                s=22,
                color=COLOURS[name],
                alpha=0.8,
                edgecolors="0.2",
                linewidths=0.4,
                label=f"{name} ({len(rows)})",
            )
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    handles = [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markersize=7,
            color=COLOURS[name],
            markeredgecolor="0.2",
            label=f"{name} ({int((table['label'] == i).sum())})",
        )
        for i, name in enumerate(CLASSES)
    ]
    for ax in axes:
        ax.legend(handles=handles, loc="best", fontsize=9)
    fig.suptitle(
        "objects of a training phantom, coloured by their true class "
        f"(annotated slices: every 4th of {SHAPE[0]})",
        fontsize=11,
    )
    return save_figure(fig, IMAGES / "classify_features.png", dpi=110)


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="volseg-classify-fig-") as tmp:
        work = Path(tmp)
        train_store = _phantom(work / "train.zarr", seed=0)
        test_store = _phantom(work / "test.zarr", seed=1)
        fg_train = foreground_store(train_store, work / "foreground_train.zarr")
        fg_test = foreground_store(test_store, work / "foreground_test.zarr")
        with connect(n_workers=2, threads_per_worker=1) as client:
            trained = train_classifier(
                fg_train,
                train_store,
                work / "classifier.vsclf",
                slices=ANNOTATED,
                min_voxels=MIN_VOXELS,
                client=client,
                progress=False,
            )
            result = classify(
                fg_test,
                trained.path,
                work / "classified",
                min_voxels=MIN_VOXELS,
                client=client,
                progress=False,
            )
        if not result.ok:
            raise SystemExit(f"classification failed: {result.summary}")
        truth = np.asarray(VolumeStore.open(test_store).labels("ground_truth")[:])
        score = object_accuracy(result.store, result.table, truth)
        meshes = render_classified(
            result.store,
            result.table,
            IMAGES / "classify_meshes.png",
            meshes_dir=work / "meshes",
            title="held-out phantom: objects of its true foreground, classified (µm)",
            max_faces=MAX_FACES,
        )
        features = _features_picture(trained.table_path)
        classified = VolumeStore.open(result.store).classes(CLASSIFIED)
    used = ", ".join(f"{n} {c}" for c, n in trained.n_used.items())
    print(
        f"training phantom (seed 0): {trained.n_objects} objects, trained on {used}; "
        f"{trained.n_unannotated} on no annotated slice and {trained.n_false} false "
        "detections left out"
    )
    counts = ", ".join(f"{result.count(c)} {c}" for c in CLASSES)
    print(
        f"test phantom (seed 1): {len(result.table)} objects ({counts}) from "
        f"{result.n_components} components, {result.n_split} cut at necks; "
        f"labels/{CLASSIFIED} classes {classified}"
    )
    print(
        f"object accuracy on the test phantom: {score.accuracy:.4f} ({score.scored} objects scored)"
    )
    print(f"wrote {meshes}\nwrote {features}")


if __name__ == "__main__":
    main()
