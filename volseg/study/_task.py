"""One study run as one task: train, then score the best checkpoint on the held-out test
images through the shipped path (``segment`` + ``evaluate_volumes``), then record it."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask

from volseg._files import write_atomically
from volseg.evaluate import Evaluation, evaluate_volumes, open_label_volume
from volseg.models import load_checkpoint
from volseg.segment import make_segment_config, segment
from volseg.study._plan import StudyRun
from volseg.train import TrainResult, train

#: The record of a finished run, in its folder (written before the run is marked done).
RESULT = "result.json"
#: The run's segmentation of the test images, in its folder.
TEST_OUTPUT = "test.zarr"


def _clean(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _worker_threads() -> int | None:
    """Threads of the dask worker running this task (None outside a worker)."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError):
        return None


@dataclass(frozen=True)
class RunTask:
    """Train and score one run (picklable; called on a dask worker with a :class:`StudyRun`).

    ``test_store`` holds the test images with ``labels/ground_truth``; ``slices`` the ones
    scored (None: all). The run's outputs go to ``run.folder``: ``train/`` (checkpoints,
    history, curves), ``test.zarr`` (its labels of the test images) and ``result.json``.
    """

    test_store: str
    slices: list[int] | None
    classes: list[str]
    tolerance: float
    device: str
    #: more test sets scored the same way: (name, store); their columns are test_<name>_...
    extra_tests: tuple[tuple[str, str], ...] = ()

    def __call__(self, run: StudyRun) -> dict[str, Any]:
        # dask work inside the run (e.g. class frequencies of a store) stays in this task:
        # on the cluster's scheduler it would secede, and the worker would start the next
        # run beside this one (two trainings sharing one process's torch RNG and threads)
        with dask.config.set(scheduler="synchronous"):
            return self._run(run)

    def _run(self, run: StudyRun) -> dict[str, Any]:
        folder = run.folder
        folder.mkdir(parents=True, exist_ok=True)
        (folder / RESULT).unlink(missing_ok=True)  # a rerun replaces a stale record first
        config = run.config
        threads = config.threads or _worker_threads()
        if threads:
            config = config.model_copy(update={"threads": threads})
        trained = train(config, progress=False)
        checkpoint = trained.best_checkpoint or trained.last_checkpoint
        ev, seconds = self._score(run, checkpoint, self.test_store, folder / TEST_OUTPUT)
        record = result_record(
            run,
            trained,
            ev,
            seconds_per_image=seconds,
            sha256=load_checkpoint(checkpoint).sha256,
        )
        for name, store in self.extra_tests:
            extra, _ = self._score(run, checkpoint, store, folder / f"test_{name}.zarr")
            record.update(score_columns(extra, prefix=f"test_{name}_"))
            record[f"per_image_{name}"] = per_image(extra)
        write_atomically(
            folder / RESULT, lambda fh: fh.write(json.dumps(record, indent=1).encode())
        )
        coi = self.classes[run.config.class_of_interest]
        return {
            "train_seconds": record["train_seconds"],
            f"test_iou_{coi}": record[f"test_iou_{coi}"],
        }

    def _score(
        self, run: StudyRun, checkpoint: Path, store: str, out: Path
    ) -> tuple[Evaluation, float]:
        """``segment`` (in this task) + ``evaluate_volumes`` of the test images in ``store``;
        the evaluation and the segmentation's seconds per image."""
        seg = segment(
            make_segment_config(
                {
                    "volume": store,
                    "model": str(checkpoint),
                    "out": str(out),
                    "device": self.device,
                    "overwrite": True,
                    "retries": 0,
                }
            ),
            progress=False,
            inline=True,
        )
        if not seg.ok:
            raise RuntimeError(f"{run.name}: segmenting {store} failed: {seg.summary.failed}")
        pred = open_label_volume(out, role="pred")
        gt = open_label_volume(store, labels="ground_truth", role="gt")
        depth = int(gt.data.shape[0])
        ev = evaluate_volumes(
            pred,
            gt,
            tolerance=self.tolerance,
            slices=self.slices if self.slices is not None else list(range(depth)),
            classes=self.classes,
            num_workers=1,
            progress=False,
        )
        return ev, seg.summary.seconds / max(depth, 1)


def score_columns(ev: Evaluation, *, prefix: str = "test_") -> dict[str, Any]:
    """Accuracy, IoU and BF1 of every class of an evaluation, as result columns."""
    row: dict[str, Any] = {f"{prefix}accuracy": ev.accuracy}
    row |= {f"{prefix}iou_{c}": ev.iou[i] for i, c in enumerate(ev.classes)}
    row |= {f"{prefix}bf1_{c}": ev.bf1[i] for i, c in enumerate(ev.classes)}
    return {k: _clean(v) for k, v in row.items()}


def per_image(ev: Evaluation) -> list[dict[str, Any]]:
    """Per test image: z, accuracy, confusion, IoU and BF1 of every class."""
    keep = ("z", "accuracy", "confusion")
    return [
        {
            k: _clean(v)
            for k, v in rec.items()
            if k in keep
            or (
                k.startswith(("iou_", "bf1_")) and not k.startswith(("bf1_precision", "bf1_recall"))
            )
        }
        for rec in ev.per_slice
    ]


def result_record(
    run: StudyRun,
    trained: TrainResult,
    ev: Evaluation,
    *,
    seconds_per_image: float,
    sha256: str,
) -> dict[str, Any]:
    """One row of the results table (plus per-image scores and the validation history)."""
    classes = ev.classes
    history = trained.history
    final = history[-1] if history else {}
    best = trained.best_metrics
    row: dict[str, Any] = {
        "run": run.key,
        "case": run.case.name,
        **run.case.fields(),
        "seed": run.seed,
        "steps": run.budget.steps,
        "epochs": run.budget.epochs,
        "crops_seen": run.budget.crops_seen,
        "pixels_seen": run.budget.pixels_seen,
        "train_seconds": trained.seconds,
        "best_epoch": trained.best_epoch,
        "best_step": best.get("step"),
        "seconds_per_image": seconds_per_image,
        **score_columns(ev),
        "test_images": len(ev.slices),
    }
    for prefix, source in (("best_val", best), ("final_val", final)):
        for key in ("loss", "accuracy"):
            row[f"{prefix}_{key}"] = source.get(f"val_{key}")
        for c in classes:
            row[f"{prefix}_iou_{c}"] = source.get(f"val_iou_{c}")
            row[f"{prefix}_bf1_{c}"] = source.get(f"val_bf1_{c}")
    row["final_train_loss"] = final.get("train_loss")
    row["weights_sha256"] = sha256
    row = {k: _clean(v) for k, v in row.items()}
    row["per_image"] = per_image(ev)
    row["history"] = [{k: _clean(v) for k, v in r.items()} for r in history]
    return row


def read_result(run: StudyRun) -> dict[str, Any] | None:
    """The recorded result of ``run``, or None when it has none."""
    path = run.folder / RESULT
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data
