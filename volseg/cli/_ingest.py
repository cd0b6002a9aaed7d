"""``volseg ingest``: slices (TIFF/PNG folder, multipage TIFF, .npy, zarr) to a store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from volseg.cli._app import app, command_line, parse_triple


@app.command()
def ingest(
    src: Annotated[
        Path,
        typer.Argument(
            help="Folder of 2D TIFF/PNG slices (natural order), multipage TIFF, .npy or zarr array."
        ),
    ],
    out: Annotated[Path, typer.Argument(help="The OME-Zarr store to write (OUT.zarr).")],
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
    voxel_size: Annotated[
        str, typer.Option("--voxel-size", help="Voxel size Z,Y,X in µm (one number for isotropic).")
    ] = "1,1,1",
    chunks: Annotated[
        str | None,
        typer.Option(help="Chunk shape Z,Y,X (default: 512 in y/x, about 4 MiB per chunk)."),
    ] = None,
    levels: Annotated[int, typer.Option(help="Pyramid levels for viewing (1 = none).")] = 1,
    workers: Annotated[
        int | None, typer.Option(help="Parallel threads (default: all CPUs).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if it is a volseg store.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Ingest a stack of slices (and optional labels) into an OME-Zarr 0.5 store."""
    from volseg.io import describe, format_info
    from volseg.io import ingest as run_ingest

    store = run_ingest(
        src, out, labels=labels,
        classes=[c.strip() for c in classes.split(",")] if classes else None,
        voxel_size=parse_triple(voxel_size, "--voxel-size", float),  # type: ignore[arg-type]
        chunks=parse_triple(chunks, "--chunks"), levels=levels, overwrite=overwrite,
        num_workers=workers, progress=progress, command=command_line(),
    )  # fmt: skip
    typer.echo(format_info(describe(store.path)))
