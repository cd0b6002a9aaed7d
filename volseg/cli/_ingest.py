"""``volseg ingest``: slices (TIFF/PNG folder, multipage TIFF, .npy, zarr) to a store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from volseg.cli._app import (
    Chunks,
    Levels,
    OutStore,
    Overwrite,
    ShowProgress,
    VoxelSize,
    Workers,
    app,
    command_line,
    parse_triple,
)


@app.command()
def ingest(
    src: Annotated[
        Path,
        typer.Argument(
            help="Folder of 2D TIFF/PNG slices (natural order), multipage TIFF, .npy or zarr array."
        ),
    ],
    out: OutStore,
    labels: Annotated[
        Path | None,
        typer.Option(
            help="Label slices matching SRC one to one "
            "(same names), written to labels/ground_truth."
        ),
    ] = None,
    classes: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated class names for label values 0,1,..., e.g. background,soma."
        ),
    ] = None,
    voxel_size: VoxelSize = "1,1,1",
    chunks: Chunks = None,
    levels: Levels = 1,
    workers: Workers = None,
    overwrite: Overwrite = False,
    progress: ShowProgress = True,
) -> None:
    """Ingest a stack of slices (and optional labels) into an OME-Zarr 0.5 store."""
    from volseg.io import describe, format_info
    from volseg.io import ingest as run_ingest

    store = run_ingest(
        src,
        out,
        labels=labels,
        classes=[c.strip() for c in classes.split(",")] if classes else None,
        voxel_size=parse_triple(voxel_size, "--voxel-size", float),  # type: ignore[arg-type]
        chunks=parse_triple(chunks, "--chunks"),
        levels=levels,
        overwrite=overwrite,
        num_workers=workers,
        progress=progress,
        command=command_line(),
    )
    typer.echo(format_info(describe(store.path)))
