"""``volseg segment``: a whole volume through a trained model, on dask.distributed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from volseg.cli._app import ShowProgress, app, command_line, parse_triple


@app.command()
def segment(
    volume: Annotated[Path, typer.Argument(help="The volume store to segment (VOLUME.zarr).")],
    model: Annotated[Path, typer.Option(help="Checkpoint (.pt) written by volseg train.")],
    out: Annotated[Path, typer.Option(help="Output store (OUT.zarr).")],
    tile: Annotated[int | None, typer.Option(help="Tile edge in px (default: derived).")] = None,
    overlap: Annotated[float, typer.Option(help="Tile overlap: a fraction (<1) or px.")] = 0.25,
    context: Annotated[
        int | None, typer.Option(help="Px of input read around each tile (default: derived).")
    ] = None,
    window: Annotated[str, typer.Option(help="gaussian, uniform or crop-centre.")] = "gaussian",
    batch_size: Annotated[int | None, typer.Option(help="Tiles per forward pass.")] = None,
    block: Annotated[
        str | None,
        typer.Option(help="Block shape Z,Y,X (multiples of the chunks; default: derived)."),
    ] = None,
    probabilities: Annotated[
        str | None, typer.Option(help="Also write class probabilities: float16 or uint8.")
    ] = None,
    uncertainty: Annotated[
        bool, typer.Option(help="Also write the tile disagreement map.")
    ] = False,
    skip: Annotated[
        str,
        typer.Option(
            help="'empty' skips constant tiles (outside the field of view); 'none' runs every tile."
        ),
    ] = "empty",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Existing dask scheduler address or "
            "scheduler file (default: "
            "DASK_SCHEDULER_ADDRESS, else local)."
        ),
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Local worker processes.")] = None,
    threads: Annotated[int | None, typer.Option(help="Threads per local worker.")] = None,
    retries: Annotated[int, typer.Option(help="Retries of a failing block.")] = 2,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if it is a volseg store.")] = False,
    progress: ShowProgress = True,
) -> None:
    """Segment a volume: chunk-aligned blocks, one global tile grid, blended overlaps."""
    from volseg.segment import make_segment_config
    from volseg.segment import segment as run_segment

    cfg = make_segment_config(
        {
            "volume": str(volume),
            "model": str(model),
            "out": str(out),
            "tile": tile,
            "overlap": int(overlap) if overlap >= 1 else overlap,
            "context": context,
            "window": window,
            "batch_size": batch_size,
            "block_shape": parse_triple(block, "--block"),
            "probabilities": probabilities,
            "uncertainty": uncertainty,
            "skip": skip,
            "device": device,
            "scheduler": scheduler,
            "workers": workers,
            "threads_per_worker": threads,
            "retries": retries,
            "resume": resume,
            "overwrite": overwrite,
        }
    )
    result = run_segment(cfg, progress=progress, command=command_line())
    typer.echo(str(result.summary))
    if not result.ok:
        typer.secho(
            f"{len(result.summary.failed)} block(s) failed; fix the cause and run "
            "again with --resume",
            fg="red",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(
        f"labels: {result.out}/labels/segmentation  (napari --plugin napari-ome-zarr {result.out})"
    )
