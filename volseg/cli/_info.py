"""``volseg info``: what a store holds and whether it is complete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from volseg.cli._app import app


@app.command()
def info(
    store: Annotated[Path, typer.Argument(help="A volseg / OME-Zarr store.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Print shape, dtype, chunks, voxel size, labels, provenance and completeness."""
    from volseg.io import describe, format_info

    summary = describe(store)
    typer.echo(json.dumps(summary, indent=2) if as_json else format_info(summary))
    if not summary["complete"]:
        raise typer.Exit(1)
