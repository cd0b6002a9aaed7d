"""``volseg verify``: decode every chunk of a store and recheck its input digests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from volseg.cli._app import ShowProgress, app
from volseg.cli._output import AsJson, emit


@app.command()
def verify(
    store: Annotated[Path, typer.Argument(help="A volseg / OME-Zarr store.")],
    progress: ShowProgress = True,
    as_json: AsJson = False,
) -> None:
    """Check every chunk of every array (checksum, decoding, missing image chunks) and the
    input sha256 recorded at ingest; exit 1 when anything is damaged."""
    from volseg.io import verify_store

    report = verify_store(store, progress=progress)
    summary = {
        "ok": report.ok,
        "store": report.store,
        "arrays": report.arrays,
        "chunks": report.chunks,
        "damaged": report.damaged,
        "digests": report.digests,
    }
    lines = [*map(str, report.damaged), *map(str, report.digests), str(report)]
    emit(summary, lines, as_json=as_json)
    if not report.ok:
        raise typer.Exit(1)
