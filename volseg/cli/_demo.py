"""``volseg demo``: the main job in one command on built-in defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from volseg.cli._app import ShowProgress, Workers, app


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for everything the demo writes.")] = Path(
        "out/demo"
    ),
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 4,
    workers: Workers = None,
    progress: ShowProgress = True,
) -> None:
    """Phantom → train a small SegNet → segment with dask → evaluate → classify somas vs
    vessels in 3D → evaluate again → reconstruct the somas, in a few minutes."""
    from volseg.demo import run_demo

    r = run_demo(out, epochs=epochs, workers=workers, progress=progress)
    p = r.paths
    s = r.scores
    typer.echo(f"volseg demo finished in {r.seconds / 60:.1f} min; everything is in {r.out}/")
    typer.echo(f"  volume + exact ground truth  {p['volume']}")
    typer.echo(f"  trained model               {p['model']}  (curves: {p['training']}/curves.png)")
    typer.echo(f"  segmentation                {p['segmentation']}/labels/segmentation")
    typer.echo(f"  evaluation                  {p['report']}  (overlays: {p['overlays']}/)")
    typer.echo(
        f"  soma IoU {s['iou_soma']:.3f}, BF1 {s['bf1_soma']:.3f}; vessel IoU "
        f"{s['iou_vessel']:.3f}; accuracy {s['accuracy']:.4f}"
    )
    typer.echo(
        f"  classifier (soma/vessel)    {p['classifier']}  (trained on "
        + ", ".join(f"{n} {c}" for c, n in s["classifier_objects"].items())
        + " objects)"
    )
    typer.echo(
        f"  classified                  {p['classified']}/labels/classified  ("
        + ", ".join(f"{n} {c}" for c, n in sorted(s["classified_objects"].items()))
        + f" objects; report {p['classified_report']})"
    )
    typer.echo(
        f"  after classification: soma IoU {s['classified_iou_soma']:.3f}, vessel IoU "
        f"{s['classified_iou_vessel']:.3f}; accuracy {s['classified_accuracy']:.4f}"
    )
    typer.echo(
        f"  3D somas (no vessels)       {s['soma_objects']} objects: {p['objects']}, "
        f"table {p['object_table']}"
    )
    typer.echo(f"  meshes (PLY, GLB scene)     {p['reconstruction']}/meshes/")
    typer.echo(f"  rendered meshes by class    {p['meshes_picture']}")
    typer.echo(f"open in napari: napari --plugin napari-ome-zarr {p['classified']}")
    typer.echo(f"  objects too:  napari --plugin napari-ome-zarr {p['objects']}")
