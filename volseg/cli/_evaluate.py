"""``volseg evaluate``: score a predicted label volume against ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from volseg.cli._app import ShowProgress, Workers, app
from volseg.cli._output import AsJson, emit
from volseg.errors import ConfigError


def _class_index(cls: str, classes: list[str]) -> int:
    if cls in classes:
        return classes.index(cls)
    try:
        index = int(cls)
    except ValueError:
        raise ConfigError(f"--cls {cls!r} is not a class; the classes are {classes}") from None
    if not 0 <= index < len(classes):
        raise ConfigError(f"--cls {index} is outside the classes 0..{len(classes) - 1}")
    return index


@app.command()
def evaluate(
    pred: Annotated[
        Path,
        typer.Argument(
            help="Prediction: a volseg store, STORE/labels/NAME, .npy or zarr array of class ids."
        ),
    ],
    gt: Annotated[Path, typer.Argument(help="Ground truth, in the same forms.")],
    out: Annotated[
        Path | None, typer.Option(help="Report folder (default: PRED-eval next to PRED).")
    ] = None,
    pred_labels: Annotated[str | None, typer.Option(help="Labels group of PRED.")] = None,
    gt_labels: Annotated[
        str | None, typer.Option(help="Labels group of GT (default ground_truth).")
    ] = None,
    slices: Annotated[
        str | None,
        typer.Option(help="Score only these slices, e.g. 0,5,10-20 (the annotated ones)."),
    ] = None,
    tolerance: Annotated[float, typer.Option(help="BF1 tolerance in pixels.")] = 2.0,
    inclusive: Annotated[
        bool,
        typer.Option(
            help="Match at distance <= tolerance (default: < tolerance, as MATLAB bfscore)."
        ),
    ] = False,
    surface_tolerance: Annotated[
        float | None,
        typer.Option(help="3D surface BF1 tolerance in µm (default: tolerance x voxel size)."),
    ] = None,
    overlays: Annotated[Path | None, typer.Option(help="Write overlay PNGs here.")] = None,
    cls: Annotated[str, typer.Option(help="Class of interest for overlays (name or index).")] = "1",
    max_overlays: Annotated[
        int, typer.Option(help="Overlay slices when --slices is not given (evenly spaced).")
    ] = 6,
    workers: Workers = None,
    progress: ShowProgress = True,
    as_json: AsJson = False,
) -> None:
    """Per-slice and whole-volume accuracy, IoU, BF1 and confusion matrix; JSON + CSV + markdown."""
    from volseg.evaluate import (
        evaluate_volumes,
        markdown,
        open_label_volume,
        parse_slices,
        summary,
        write_overlays,
        write_report,
    )

    p = open_label_volume(pred, labels=pred_labels, role="pred")
    g = open_label_volume(gt, labels=gt_labels, role="gt")
    chosen = parse_slices(slices, g.data.shape[0])
    ev = evaluate_volumes(
        p,
        g,
        tolerance=tolerance,
        inclusive=inclusive,
        slices=chosen,
        surface_tolerance_um=surface_tolerance,
        num_workers=workers,
        progress=progress,
    )
    base = pred.parent.parent if pred.parent.name == "labels" else pred  # STORE/labels/NAME
    out = out or base.with_name(base.stem + "-eval")
    paths = write_report(ev, out)
    text = [markdown(ev), f"report: {paths['md']}, {paths['json']}, {paths['csv']}"]
    files: list[Path] | None = None
    if overlays is not None:
        index = _class_index(cls, ev.classes)
        shown = chosen or sorted(
            set(np.linspace(0, g.data.shape[0] - 1, max_overlays, dtype=int).tolist())
        )
        files = write_overlays(p, g, overlays, shown, cls=index, classes=ev.classes)
        text.append(f"overlays: {len(files)} PNGs in {overlays}")
    emit({"report": paths, **summary(ev), "overlays": files}, text, as_json=as_json)
