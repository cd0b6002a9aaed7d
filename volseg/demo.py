"""``volseg demo``: the main job end to end on built-in defaults, in a few minutes on a CPU.

phantom (train + test volumes) → a small SegNet trained briefly on annotated phantom slices
→ the test volume segmented with dask → evaluated against its exact ground truth.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from volseg.evaluate import evaluate_volumes, open_label_volume, write_overlays, write_report
from volseg.phantom import PhantomConfig, generate_phantom
from volseg.segment import make_segment_config, segment
from volseg.train import make_config, train


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
    scores = {
        "accuracy": ev.accuracy,
        **{f"iou_{c}": v for c, v in zip(ev.classes, ev.iou, strict=True)},
        **{f"bf1_{c}": v for c, v in zip(ev.classes, ev.bf1, strict=True)},
        "segment_seconds": seg.summary.seconds,
        "train_seconds": result.seconds,
    }
    return DemoResult(out=out, paths=paths, scores=scores, seconds=time.perf_counter() - t0)
