"""``volseg view``: serve a store on localhost and print the neuroglancer link."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from volseg.cli._app import app


@app.command()
def view(
    store: Annotated[Path, typer.Argument(help="The OME-Zarr store to serve.")],
    port: Annotated[int, typer.Option(help="Port (0: any free one).")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
) -> None:
    """Serve a store over HTTP (with CORS) for neuroglancer; Ctrl-C stops it."""
    from volseg.view import neuroglancer_state, neuroglancer_url, serve_store

    with serve_store(store, host=host, port=port) as server:
        state = neuroglancer_state(server.url, server.store)
        typer.echo(f"serving {server.store.path} at {server.url}")
        typer.echo(f"neuroglancer: {neuroglancer_url(state)}")
        typer.echo(f"napari:       napari --plugin napari-ome-zarr {server.store.path}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            typer.echo("stopped")
