"""Write an evaluation as JSON + CSV + a markdown summary, and overlays as PNGs."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from volseg.evaluate._inputs import LabelVolume
from volseg.evaluate._volume import Evaluation
from volseg.viz import MAX_DISPLAY_SIDE, comparison_figure, overlay, save_figure


def _num(v: float) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def summary(ev: Evaluation) -> dict[str, Any]:
    """The whole-volume numbers as plain JSON (NaN written as null)."""
    out: dict[str, Any] = {
        "sources": ev.sources,
        "classes": ev.classes,
        "slices_scored": len(ev.slices),
        "bf1_tolerance_px": ev.tolerance,
        "bf1_inclusive": ev.inclusive,
        "accuracy": _num(ev.accuracy),
        "iou": {c: _num(v) for c, v in zip(ev.classes, ev.iou, strict=True)},
        "bf1_mean_over_slices": {c: _num(v) for c, v in zip(ev.classes, ev.bf1, strict=True)},
        "confusion_matrix": {
            "rows": "ground truth",
            "columns": "prediction",
            "counts": ev.confusion.tolist(),
        },
    }
    if ev.surface_bf1 is not None:
        out["surface_bf1"] = {
            "tolerance_um": ev.surface_tolerance_um,
            **{
                c: {
                    "precision": _num(s.precision),
                    "recall": _num(s.recall),
                    "score": _num(s.score),
                }
                for c, s in zip(ev.classes, ev.surface_bf1, strict=True)
            },
        }
    return out


def markdown(ev: Evaluation) -> str:
    """A short human summary: one table of per-class scores and the confusion matrix."""

    def f(v: float | None) -> str:
        return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"

    lines = [
        f"# Evaluation of {ev.sources.get('prediction')}",
        "",
        f"Ground truth: {ev.sources.get('ground_truth')}; {len(ev.slices)} slices scored; "
        f"global accuracy **{f(ev.accuracy)}**.",
        "",
        "| class | IoU | BF1 (mean over slices, "
        f"{ev.tolerance:g} px) | surface BF1 ("
        + (f"{ev.surface_tolerance_um:g} µm" if ev.surface_tolerance_um else "not computed")
        + ") |",
        "|---|---:|---:|---:|",
    ]
    for c, name in enumerate(ev.classes):
        surf = f(ev.surface_bf1[c].score) if ev.surface_bf1 else "–"
        lines.append(f"| {name} | {f(ev.iou[c])} | {f(ev.bf1[c])} | {surf} |")
    lines += [
        "",
        "Confusion matrix (rows: ground truth, columns: prediction):",
        "",
        "| | " + " | ".join(ev.classes) + " |",
        "|---|" + "---:|" * len(ev.classes),
    ]
    for name, row in zip(ev.classes, ev.confusion, strict=True):
        lines.append(f"| **{name}** | " + " | ".join(str(int(v)) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_report(ev: Evaluation, out: str | Path) -> dict[str, Path]:
    """Write ``metrics.json`` (summary + per slice), ``per_slice.csv`` and ``summary.md``.

    Parameters
    ----------
    ev
        An evaluation (:func:`evaluate_volumes`).
    out
        The folder to write into (created if missing; files there are replaced).

    Returns
    -------
    dict of str to Path
        The files written, by kind: ``"json"``, ``"csv"`` and ``"md"``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "metrics.json", "csv": out / "per_slice.csv", "md": out / "summary.md"}
    rows = [{k: _num(v) if isinstance(v, float) else v for k, v in r.items()} for r in ev.per_slice]
    paths["json"].write_text(json.dumps({"summary": summary(ev), "per_slice": rows}, indent=1))
    fields = [k for k in ev.per_slice[0] if k != "confusion"] if ev.per_slice else ["z"]
    with paths["csv"].open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(ev.per_slice)
    paths["md"].write_text(markdown(ev))
    return paths


def write_overlays(
    pred: LabelVolume,
    gt: LabelVolume,
    out: str | Path,
    slices: Sequence[int],
    *,
    cls: int | None,
    classes: Sequence[str] | None = None,
) -> list[Path]:
    """For each slice: ``overlay_zNNNN.png`` (colour-coded errors, display size) and
    ``compare_zNNNN.png`` (raw | ground truth | prediction | overlay)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    raw_source = gt.image if gt.image is not None else pred.image
    written = []
    for z in slices:
        p, g = np.asarray(pred.data[z]), np.asarray(gt.data[z])
        path = out / f"overlay_z{z:04d}.png"
        Image.fromarray(overlay(p, g, cls=cls, max_side=MAX_DISPLAY_SIDE)).save(path)
        raw = np.asarray(raw_source[z]) if raw_source is not None else None
        fig = comparison_figure(raw, g, p, cls=cls, classes=classes, title=f"slice z={z}")
        written += [path, save_figure(fig, out / f"compare_z{z:04d}.png")]
    return written
