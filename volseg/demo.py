"""``volseg demo``: the main job end to end on built-in defaults, in a few minutes on a CPU.

phantom (train + test volumes) → a small SegNet trained briefly on annotated phantom slices
→ the test volume segmented with dask → evaluated against its exact ground truth → somas
reconstructed in 3D (objects, table, meshes, a rendered picture).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trimesh

from volseg.evaluate import evaluate_volumes, open_label_volume, write_overlays, write_report
from volseg.phantom import PhantomConfig, generate_phantom
from volseg.reconstruct import ReconstructResult, reconstruct
from volseg.segment import make_segment_config, segment
from volseg.train import make_config, train
from volseg.viz import render_meshes


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
    progress: bool = True,
) -> DemoResult:
    """Run the demo into ``out`` (replacing an earlier demo there).

    The training phantom (seed ``seed``) gives annotated slices every 4th slice; the test
    phantom (seed ``seed + 1``) is segmented whole and scored against its ground truth.
    """
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "train_volume": out / "phantom_train.zarr",
        "volume": out / "phantom.zarr",
        "training": out / "training",
        "segmentation": out / "segmentation.zarr",
        "evaluation": out / "evaluation",
        "overlays": out / "overlays",
        "reconstruction": out / "reconstruction",
    }
    generate_phantom(
        paths["train_volume"],
        PhantomConfig(shape=shape, seed=seed),
        overwrite=True,
        progress=progress,
    )
    generate_phantom(
        paths["volume"],
        PhantomConfig(shape=shape, seed=seed + 1),
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
    seg = segment(
        make_segment_config(
            {
                "volume": str(paths["volume"]),
                "model": str(paths["model"]),
                "out": str(paths["segmentation"]),
                "overwrite": True,
                "workers": workers,
                "device": "auto",
            }
        ),
        progress=progress,
        command="volseg demo",
    )
    pred = open_label_volume(paths["segmentation"], labels="segmentation", role="pred")
    gt = open_label_volume(paths["volume"], role="gt")
    ev = evaluate_volumes(pred, gt, progress=progress)
    report = write_report(ev, paths["evaluation"])
    paths["report"] = report["md"]
    write_overlays(
        pred, gt, paths["overlays"], [shape[0] // 4, shape[0] // 2], cls=1, classes=ev.classes
    )
    objects = reconstruct(
        paths["segmentation"],
        paths["reconstruction"],
        classes=["soma"],
        min_voxels=min_object_voxels,
        progress=progress,
        overwrite=True,
    )
    paths["objects"] = objects.components.store
    paths["object_table"] = objects.components.csv
    paths["meshes_picture"] = _picture(objects, paths["reconstruction"] / "meshes.png")
    scores = {
        "accuracy": ev.accuracy,
        **{f"iou_{c}": v for c, v in zip(ev.classes, ev.iou, strict=True)},
        **{f"bf1_{c}": v for c, v in zip(ev.classes, ev.bf1, strict=True)},
        "segment_seconds": seg.summary.seconds,
        "train_seconds": result.seconds,
        "soma_objects": objects.n_objects,
    }
    return DemoResult(out=out, paths=paths, scores=scores, seconds=time.perf_counter() - t0)


def _picture(objects: ReconstructResult, path: Path) -> Path:
    """The soma meshes rendered in one 3D view."""
    meshes: dict[int, trimesh.Trimesh] = {}
    if objects.export is not None:
        for object_id, files in objects.export.mesh_files.items():
            if "ply" in files:
                meshes[object_id] = trimesh.load_mesh(files["ply"])
    return render_meshes(meshes, path, title="somas segmented by the demo (µm)")
