"""``volseg demo``: the main job end to end on built-in defaults, in a few minutes on a CPU.

phantom (train + test volumes) → a small SegNet trained briefly on annotated phantom slices
→ the test volume segmented with dask → evaluated against its exact ground truth → the 3D
objects classified soma or vessel by a classifier trained on the annotated slices of the
training volume → evaluated again → somas reconstructed in 3D (objects, table, meshes) and
every object rendered coloured by class.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from volseg.classify import CLASSIFIED, classify, render_classified, train_classifier
from volseg.evaluate import evaluate_volumes, open_label_volume, write_overlays, write_report
from volseg.infer import resolve_device
from volseg.phantom import PhantomConfig, generate_phantom
from volseg.reconstruct import reconstruct
from volseg.runtime import connect
from volseg.segment import make_segment_config, segment
from volseg.train import make_config, train

if TYPE_CHECKING:
    from distributed import Client


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote everything, and the scores it measured."""

    out: Path
    paths: dict[str, Path]
    scores: dict[str, Any]
    seconds: float


def run_demo(
    out: str | Path = "out/demo",
    *,
    shape: tuple[int, int, int] = (32, 384, 384),
    epochs: int = 4,
    crops: int = 160,
    crop_size: int = 192,
    seed: int = 0,
    workers: int | None = None,
    min_object_voxels: int = 20,
    vessel_density: float = 80.0,
    progress: bool = True,
) -> DemoResult:
    """Run the demo into ``out`` (replacing an earlier demo there).

    The training phantom (seed ``seed``) gives annotated slices every 4th slice; the test
    phantom (seed ``seed + 1``) is segmented whole and scored against its ground truth.
    Both have ``vessel_density`` vessel trunks per 10⁶ px² of cord (the phantom's default is
    25): in a volume this small that gives the classifier enough vessels to learn from.

    Parameters
    ----------
    out
        Folder for everything the demo writes.
    shape
        (z, y, x) shape of both phantoms.
    epochs
        Training epochs of the SegNet.
    crops
        Random training crops per epoch.
    crop_size
        Edge of the training crops in px.
    seed
        Seed of the training phantom and of training; the test phantom has ``seed + 1``.
    workers
        Worker processes of the local dask cluster (default: derived from the CPU count).
    min_object_voxels
        Smaller 3D objects are dropped by the classifier and the reconstruction.
    vessel_density
        Vessel trunks per 10⁶ px² of cord in both phantoms.
    progress
        Draw progress bars on stderr.

    Returns
    -------
    DemoResult
        The output folder, the ``paths`` of everything written (volume, model,
        segmentation, reports, classifier, objects, meshes), the ``scores`` measured
        (IoU, BF1, accuracy before and after classification, object counts) and
        ``seconds``.
    """
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "train_volume": out / "phantom_train.zarr",
        "volume": out / "phantom.zarr",
        "training": out / "training",
        "segmentation": out / "segmentation.zarr",
        "train_segmentation": out / "train_segmentation.zarr",
        "classifier": out / "classifier.vsclf",
        "classification": out / "classification",
        "evaluation": out / "evaluation",
        "classified_evaluation": out / "evaluation_classified",
        "overlays": out / "overlays",
        "reconstruction": out / "reconstruction",
    }
    generate_phantom(
        paths["train_volume"],
        PhantomConfig(shape=shape, seed=seed, vessel_density=vessel_density),
        overwrite=True,
        progress=progress,
    )
    generate_phantom(
        paths["volume"],
        PhantomConfig(shape=shape, seed=seed + 1, vessel_density=vessel_density),
        overwrite=True,
        progress=progress,
    )
    annotated = list(range(0, shape[0], 4))
    result = train(
        make_config(
            {
                "train": {"source": str(paths["train_volume"]), "slices": annotated},
                "validation": {"source": str(paths["volume"]), "slices": [shape[0] // 2]},
                "out": str(paths["training"]),
                "model": "segnet-lite",
                "crop_size": crop_size,
                "crops": crops,
                "epochs": epochs,
                "batch_size": 8,
                "class_of_interest": 1,
                "seed": seed,
            }
        ),
        progress=progress,
    )
    paths["model"] = result.best_checkpoint or result.last_checkpoint
    gpu = resolve_device("auto").type == "cuda"
    # one cluster for every stage: no start-up per stage
    with connect(n_workers=workers, resources={"GPU": 1} if gpu else None) as client:
        seg = _segment(paths["volume"], paths["model"], paths["segmentation"], client, progress)
        # the classifier learns from the objects the network finds in the training volume,
        # labelled by the annotated slices only
        _segment(
            paths["train_volume"], paths["model"], paths["train_segmentation"], client, progress
        )
        trained = train_classifier(
            paths["train_segmentation"],
            paths["train_volume"],
            paths["classifier"],
            slices=annotated,
            min_voxels=min_object_voxels,
            client=client,
            overwrite=True,
            progress=progress,
        )
        pred = open_label_volume(paths["segmentation"], labels="segmentation", role="pred")
        gt = open_label_volume(paths["volume"], role="gt")
        ev = evaluate_volumes(pred, gt, progress=progress)
        report = write_report(ev, paths["evaluation"])
        paths["report"] = report["md"]
        write_overlays(
            pred, gt, paths["overlays"], [shape[0] // 4, shape[0] // 2], cls=1, classes=ev.classes
        )
        classified = classify(
            paths["segmentation"],
            trained.path,
            paths["classification"],
            min_voxels=min_object_voxels,
            client=client,
            overwrite=True,
            progress=progress,
        )
        paths["classified"] = classified.store
        after = evaluate_volumes(
            open_label_volume(classified.store, labels=CLASSIFIED, role="pred"),
            gt,
            progress=progress,
        )
        paths["classified_report"] = write_report(after, paths["classified_evaluation"])["md"]
        objects = reconstruct(
            classified.store,
            paths["reconstruction"],
            labels=CLASSIFIED,
            classes=["soma"],
            min_voxels=min_object_voxels,
            client=client,
            progress=progress,
            overwrite=True,
        )
        paths["objects"] = objects.components.store
        paths["object_table"] = objects.components.csv
        paths["meshes_picture"] = render_classified(
            classified.store,
            classified.table,
            paths["reconstruction"] / "meshes.png",
            meshes_dir=paths["classification"],
            title="objects of the demo, coloured by class (µm)",
        )
    scores = {
        "accuracy": ev.accuracy,
        **{f"iou_{c}": v for c, v in zip(ev.classes, ev.iou, strict=True)},
        **{f"bf1_{c}": v for c, v in zip(ev.classes, ev.bf1, strict=True)},
        "segment_seconds": seg.summary.seconds,
        "train_seconds": result.seconds,
        "soma_objects": objects.n_objects,
        **{f"classified_iou_{c}": v for c, v in zip(after.classes, after.iou, strict=True)},
        "classified_accuracy": after.accuracy,
        "classified_objects": {c: classified.count(c) for c in classified.table["class"].unique()},
        "classifier_objects": trained.n_used,
    }
    return DemoResult(out=out, paths=paths, scores=scores, seconds=time.perf_counter() - t0)


def _segment(volume: Path, model: Path, out: Path, client: Client, progress: bool) -> Any:
    return segment(
        make_segment_config(
            {
                "volume": str(volume),
                "model": str(model),
                "out": str(out),
                "overwrite": True,
                "scheduler": client.scheduler_info()["address"],
                "device": "auto",
            }
        ),
        progress=progress,
        command="volseg demo",
    )
