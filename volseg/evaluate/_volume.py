"""Score a predicted label volume against ground truth, streamed in z-slabs through dask."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dask
import numpy as np

from volseg.errors import InputError
from volseg.evaluate._inputs import LabelVolume
from volseg.metrics import (
    BF1Counts,
    BF1Scores,
    bf1_counts,
    confusion_matrix,
    mean_ignoring_nan,
    metrics_from_confusion,
    surface_bf1_counts,
    surface_halo,
)
from volseg.runtime import run_tasks

#: Slices per task when the input chunking does not suggest a depth.
SLAB_DEPTH = 8


@dataclass
class Evaluation:
    """Per-slice and whole-volume scores of one prediction against its ground truth.

    ``bf1[c]`` is the mean over slices of the per-slice BF1 of class ``c``, ignoring slices
    where it is NaN (class absent from the prediction or the ground truth);
    ``surface_bf1[c]`` is the 3D surface BF1 of the whole volume (None when only some
    slices were scored).
    """

    classes: list[str]
    slices: list[int]
    confusion: np.ndarray
    accuracy: float
    iou: list[float]
    bf1: list[float]
    per_slice: list[dict[str, Any]]
    tolerance: float
    inclusive: bool
    surface_tolerance_um: float | None = None
    surface_bf1: list[BF1Scores] | None = None
    sources: dict[str, str] = field(default_factory=dict)


def _slice_record(
    z: int, cm: np.ndarray, counts: list[BF1Counts], classes: Sequence[str]
) -> dict[str, Any]:
    m = metrics_from_confusion(cm)
    rec: dict[str, Any] = {"z": z, "accuracy": m["accuracy"]}
    for c, name in enumerate(classes):
        rec[f"iou_{name}"] = float(m["iou"][c])
    for c, name in enumerate(classes):
        s = BF1Scores.from_counts(counts[c])
        rec[f"bf1_{name}"] = s.score
        rec[f"bf1_precision_{name}"] = s.precision
        rec[f"bf1_recall_{name}"] = s.recall
    rec["confusion"] = cm.tolist()
    return rec


def _slab_task(
    pred: LabelVolume,
    gt: LabelVolume,
    zs: list[int],
    k: int,
    tolerance: float,
    inclusive: bool,
    surface: tuple[float, tuple[float, float, float], int] | None,
    depth: int,
) -> dict[str, Any]:
    """Score slices ``zs`` (a contiguous run when ``surface`` is asked for)."""
    z0, z1 = zs[0], zs[-1] + 1
    halo = surface[2] if surface else 0
    lo, hi = max(0, z0 - halo), min(depth, z1 + halo)
    p_all = np.asarray(pred.data[lo:hi])
    g_all = np.asarray(gt.data[lo:hi])
    out: dict[str, Any] = {"slices": [], "cm": np.zeros((k, k), np.int64)}
    for z in zs:
        p, g = p_all[z - lo], g_all[z - lo]
        try:
            cm = confusion_matrix(p, g, k)
        except InputError as exc:
            raise InputError(f"slice {z}: {exc}") from None
        counts = [
            bf1_counts(p == c, g == c, tolerance=tolerance, inclusive=inclusive) for c in range(k)
        ]
        out["cm"] += cm
        out["slices"].append((z, cm, counts))
    if surface:
        tol, vs, _ = surface
        core = (z0 - lo, z1 - lo)
        out["surface"] = [
            surface_bf1_counts(
                p_all == c, g_all == c, voxel_size=vs, tolerance=tol, inclusive=inclusive, core=core
            )
            for c in range(k)
        ]
    return out


def _runs(slices: list[int], depth: int) -> list[list[int]]:
    """Group slice indices into slabs of at most ``depth`` consecutive-slab members."""
    groups: dict[int, list[int]] = {}
    for z in slices:
        groups.setdefault(z // depth, []).append(z)
    return list(groups.values())


def _num_classes(pred: LabelVolume, gt: LabelVolume, classes: Sequence[str] | None) -> list[str]:
    if classes is not None:
        return list(classes)
    known = [list(c) for c in (gt.classes, pred.classes) if c]
    if known:
        return max(known, key=len)
    top = max(int(v) for v in dask.compute(pred.data.max(), gt.data.max()))
    return ["background"] + [f"class {i}" for i in range(1, max(top, 1) + 1)]


def evaluate_volumes(
    pred: LabelVolume,
    gt: LabelVolume,
    *,
    tolerance: float = 2.0,
    inclusive: bool = False,
    slices: list[int] | None = None,
    surface_tolerance_um: float | None = None,
    classes: Sequence[str] | None = None,
    num_workers: int | None = None,
    progress: bool = True,
) -> Evaluation:
    """Per-slice and whole-volume accuracy, IoU, BF1 and confusion matrix (and 3D surface BF1).

    Slabs of slices are scored in parallel, each task holding one slab (plus a z halo for
    the surface BF1), so memory does not grow with depth.

    Parameters
    ----------
    pred
        The prediction (:func:`open_label_volume`).
    gt
        The ground truth, of the same shape.
    tolerance
        BF1 tolerance in pixels, as in :func:`volseg.metrics.bf1`.
    inclusive
        Count boundary pixels at exactly ``tolerance`` as matched, as in
        :func:`volseg.metrics.bf1`.
    slices
        Score only these slices (e.g. the annotated ones); the 3D surface BF1 is then skipped.
    surface_tolerance_um
        Tolerance of the 3D surface BF1 in µm; by default ``tolerance`` × the in-plane voxel
        size. Needs the voxel size of the ground truth (from its store; 1 µm for arrays).
    classes
        Class names; by default those of the stores, or ``background, class 1, ...``.
    num_workers
        Threads scoring slabs; by default one per CPU core.
    progress
        Show a progress bar.

    Returns
    -------
    Evaluation
        Classes, scored slices, confusion matrix, accuracy, IoU and BF1 per class, per-slice
        records, and the 3D surface BF1 when every slice was scored
        (:func:`write_report` writes it, :func:`markdown` renders it).

    Raises
    ------
    InputError
        The two volumes differ in shape, or hold class ids beyond ``classes``.
    """
    if pred.data.shape != gt.data.shape:
        raise InputError(
            f"prediction {pred.source} has shape {pred.data.shape} but ground truth "
            f"{gt.source} has {gt.data.shape}; they must cover the same volume"
        )
    names = _num_classes(pred, gt, classes)
    k = len(names)
    depth = gt.data.shape[0]
    chosen = slices if slices is not None else list(range(depth))
    voxel = gt.voxel_size or pred.voxel_size or (1.0, 1.0, 1.0)
    surface = None
    if slices is None:
        tol_um = surface_tolerance_um if surface_tolerance_um is not None else tolerance * voxel[1]
        surface = (tol_um, voxel, surface_halo(voxel, tol_um))
    slab = int(gt.data.chunksize[0]) if gt.data.chunksize[0] > 1 else SLAB_DEPTH
    tasks = [
        dask.delayed(_slab_task)(
            pred, gt, zs, k, tolerance, inclusive, surface, depth, dask_key_name=f"evaluate-{i}"
        )
        for i, zs in enumerate(_runs(chosen, slab))
    ]
    results, _ = run_tasks(
        tasks, description="evaluate", num_workers=num_workers, progress=progress
    )
    cm = sum((r["cm"] for r in results), np.zeros((k, k), np.int64))
    per_slice = sorted(
        (_slice_record(z, c, counts, names) for r in results for z, c, counts in r["slices"]),
        key=lambda rec: rec["z"],
    )
    m = metrics_from_confusion(cm)
    surface_scores = None
    if surface:
        surface_scores = [
            BF1Scores.from_counts(sum(r["surface"][c] for r in results)) for c in range(k)
        ]
    return Evaluation(
        classes=names,
        slices=chosen,
        confusion=cm,
        accuracy=float(m["accuracy"]),
        iou=[float(v) for v in m["iou"]],
        bf1=[mean_ignoring_nan([rec[f"bf1_{n}"] for rec in per_slice]) for n in names],
        per_slice=per_slice,
        tolerance=tolerance,
        inclusive=inclusive,
        surface_tolerance_um=surface[0] if surface else None,
        surface_bf1=surface_scores,
        sources={"prediction": pred.source, "ground_truth": gt.source},
    )
