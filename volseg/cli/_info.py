"""``volseg info``: what a store holds and whether it is complete."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from volseg.cli._app import app
from volseg.cli._output import AsJson, emit


@app.command()
def info(
    store: Annotated[Path, typer.Argument(help="A volseg / OME-Zarr store.")],
    as_json: AsJson = False,
) -> None:
    """Print shape, dtype, chunks, voxel size, labels, provenance and completeness."""
    from volseg.io import describe, format_info

    summary = describe(store)
    emit(summary, [format_info(summary)], as_json=as_json)
    if not summary["complete"]:
        raise typer.Exit(1)
