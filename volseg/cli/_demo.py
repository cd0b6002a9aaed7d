"""``volseg demo``: the main job in one command on built-in defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from volseg.cli._app import ShowProgress, Workers, app
from volseg.cli._output import AsJson, emit


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for everything the demo writes.")] = Path(
        "out/demo"
    ),
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 4,
    workers: Workers = None,
    progress: ShowProgress = True,
    as_json: AsJson = False,
) -> None:
    """Phantom → train a small SegNet → segment with dask → evaluate → classify somas vs
    vessels in 3D → evaluate again → reconstruct the somas, in a few minutes."""
    from volseg.demo import run_demo

    r = run_demo(out, epochs=epochs, workers=workers, progress=progress)
    p = r.paths
    s = r.scores
    text: list[str] = []
    text.append(f"volseg demo finished in {r.seconds / 60:.1f} min; everything is in {r.out}/")
    text.append(f"  volume + exact ground truth  {p['volume']}")
    text.append(f"  trained model               {p['model']}  (curves: {p['training']}/curves.png)")
    text.append(f"  segmentation                {p['segmentation']}/labels/segmentation")
    text.append(f"  evaluation                  {p['report']}  (overlays: {p['overlays']}/)")
    text.append(
        f"  soma IoU {s['iou_soma']:.3f}, BF1 {s['bf1_soma']:.3f}; vessel IoU "
        f"{s['iou_vessel']:.3f}; accuracy {s['accuracy']:.4f}"
    )
    text.append(
        f"  classifier (soma/vessel)    {p['classifier']}  (trained on "
        + ", ".join(f"{n} {c}" for c, n in s["classifier_objects"].items())
        + " objects)"
    )
    text.append(
        f"  classified                  {p['classified']}/labels/classified  ("
        + ", ".join(f"{n} {c}" for c, n in sorted(s["classified_objects"].items()))
        + f" objects; report {p['classified_report']})"
    )
    text.append(
        f"  after classification: soma IoU {s['classified_iou_soma']:.3f}, vessel IoU "
        f"{s['classified_iou_vessel']:.3f}; accuracy {s['classified_accuracy']:.4f}"
    )
    text.append(
        f"  3D somas (no vessels)       {s['soma_objects']} objects: {p['objects']}, "
        f"table {p['object_table']}"
    )
    text.append(f"  meshes (PLY, GLB scene)     {p['reconstruction']}/meshes/")
    text.append(f"  rendered meshes by class    {p['meshes_picture']}")
    text.append(f"open in napari: napari --plugin napari-ome-zarr {p['classified']}")
    text.append(f"  objects too:  napari --plugin napari-ome-zarr {p['objects']}")
    text.append(f"3D in neuroglancer (offline): volseg view {p['objects']}")
    summary = {
        "out": r.out.resolve(),
        "seconds": r.seconds,
        "paths": {key: path.resolve() for key, path in p.items()},
        "scores": s,
    }
    emit(summary, text, as_json=as_json)
