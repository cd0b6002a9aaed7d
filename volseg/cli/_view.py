"""``volseg view``: serve a store and a neuroglancer client on localhost; print the link."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from volseg.cli._app import app


@app.command()
def view(
    store: Annotated[
        Path, typer.Argument(help="The OME-Zarr store to show (objects.zarr: with its meshes).")
    ],
    port: Annotated[int, typer.Option(help="Port (0: any free one).")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    neuroglancer: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="Open the link in this neuroglancer instance instead of the bundled one "
            "(e.g. https://neuroglancer-demo.appspot.com; it reads the data from here).",
        ),
    ] = None,
) -> None:
    """Show a store in neuroglancer, offline: serve it with neuroglancer's client.

    One local server serves the client of the installed neuroglancer package
    at / and the store at /data/ (with CORS), and the link opens the xy plane
    (x, y, z in µm), the image, every label image, and the meshes and
    skeletons of `volseg reconstruct` objects in the 3D panel. Ctrl-C stops it.
    """
    from volseg.view import neuroglancer_state, neuroglancer_url, serve_store

    with serve_store(store, host=host, port=port, client=neuroglancer is None) as server:
        state = neuroglancer_state(server.store, server.url)
        typer.echo(f"serving {server.store.path} at {server.url}data/")
        typer.echo(f"neuroglancer: {neuroglancer_url(state, neuroglancer or server.url)}")
        typer.echo(f"napari:       napari --plugin napari-ome-zarr {server.store.path}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            typer.echo("stopped")
