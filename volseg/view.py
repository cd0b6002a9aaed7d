"""Serve a store and a neuroglancer client from one local HTTP server (no outside page).

:func:`serve_store` answers, on one origin:

- ``/`` redirects to ``/v/volseg/``: the neuroglancer client that ships with the installed
  ``neuroglancer`` package (``neuroglancer/static/client``). That build finds its server
  from a ``/v/<token>/`` path and listens to ``/events/<token>`` for state pushed from
  Python; this server keeps that stream open and silent, so the client takes its state from
  the link (``#!{state}``) alone;
- ``/data/``: the OME-Zarr store, read-only, with CORS headers (any neuroglancer reads it);
- ``/precomputed/``: the neuroglancer meshes and skeletons ``volseg reconstruct`` wrote
  beside the store (``<store>/../precomputed/<labels name>/{meshes,skeletons}``).

:func:`neuroglancer_state` is the state the link opens: x, y, z display dimensions in the
store's µm (the xy plane in the main panel), the image, every label image as a
segmentation layer, and for an objects label image its meshes and skeletons as extra
sources of the same layer (3D panel).
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import socket
import threading
from collections.abc import Sequence
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from volseg.errors import ConfigError, InputNotFoundError
from volseg.io import VolumeStore

__all__ = [
    "CLIENT_PATH",
    "DATA_PATH",
    "MAX_LISTED_SEGMENTS",
    "PRECOMPUTED_PATH",
    "StoreServer",
    "neuroglancer_client",
    "neuroglancer_state",
    "neuroglancer_url",
    "serve_store",
]

#: Where the bundled client is served (its code needs a ``/v/<token>/`` path).
CLIENT_PATH = "/v/volseg/"
#: Where the store is served.
DATA_PATH = "/data/"
#: Where the precomputed meshes and skeletons beside the store are served.
PRECOMPUTED_PATH = "/precomputed/"
#: Object ids listed in a layer's ``segments`` (their meshes drawn at once); a layer with
#: more objects lists none: every object still shows in the slices, a double click shows one.
MAX_LISTED_SEGMENTS = 1000
_EVENTS_PATH = "/events/volseg"
_ANY_HOST = ("0.0.0.0", "::", "")
_KEEPALIVE_SECONDS = 10.0
_PANEL_PIXELS = 320  # about the width of one panel of the 4-panel layout on a laptop
_MIME = {".wasm": "application/wasm", ".js": "text/javascript", ".map": "application/json"}


def neuroglancer_client() -> Path:
    """The folder of the neuroglancer client shipped with the ``neuroglancer`` package.

    Raises
    ------
    InputNotFoundError
        If the package is not installed or holds no built client.
    """
    try:
        folder = Path(str(importlib.resources.files("neuroglancer.static") / "client"))
    except ModuleNotFoundError:
        folder = Path("neuroglancer/static/client (package not installed)")
    if not (folder / "index.html").is_file():
        raise InputNotFoundError(
            f"no neuroglancer client at {folder}; install the neuroglancer package "
            "(pip install neuroglancer, a volseg dependency) or pass --neuroglancer URL"
        )
    return folder


class _Handler(SimpleHTTPRequestHandler):
    """Files of the mounted folders, read-only, with CORS headers."""

    server: _Server
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **_MIME}  # noqa: RUF012

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "*")
        self.send_header("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
        super().end_headers()

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:
        if urlsplit(self.path).path == _EVENTS_PATH:
            self._silent_events()
        else:
            super().do_GET()

    def send_head(self) -> Any:
        if urlsplit(self.path).path != "/":
            return super().send_head()
        self.send_response(302)  # the browser keeps the link's #!{state} fragment
        self.send_header("Location", CLIENT_PATH)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None

    def _silent_events(self) -> None:
        # the client shows "Disconnected from Python server" unless this stream stays open
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.flush()
            while not self.server.closing.wait(_KEEPALIVE_SECONDS):
                self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()
        except OSError:
            pass  # the page was closed

    def translate_path(self, path: str) -> str:
        route = urlsplit(path).path
        for prefix, folder in self.server.mounts.items():
            if route.startswith(prefix):
                self.directory = str(folder)
                return super().translate_path("/" + route[len(prefix) :])
        return str(Path(self.server.mounts[DATA_PATH]) / ".volseg-no-such-file")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a viewer fetches thousands of chunks: keep the terminal quiet


class _Server(ThreadingHTTPServer):
    mounts: dict[str, Path]
    closing: threading.Event


class StoreServer:
    """A running HTTP server for one store; ``url`` is its root. Stop it with :meth:`close`
    (or use it as a context manager)."""

    def __init__(self, server: _Server, store: VolumeStore) -> None:
        self.server, self.store = server, store
        host, port = server.server_address[:2]
        if host in _ANY_HOST:  # a link to 0.0.0.0 opens nowhere else (and browsers block it)
            host = socket.getfqdn()
        self.url = f"http://{host!s}:{port}/"
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.closing.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> StoreServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _precomputed_root(store: VolumeStore) -> Path:
    return store.path.resolve().parent / "precomputed"


def serve_store(
    path: str | Path, *, host: str = "127.0.0.1", port: int = 8000, client: bool = True
) -> StoreServer:
    """Serve the OME-Zarr store at ``path`` and a neuroglancer client on ``host:port``
    (0: any free port), in a thread.

    Parameters
    ----------
    path
        A volseg store (``objects.zarr`` of a reconstruction: its precomputed meshes and
        skeletons are served too).
    host, port
        Where to listen (``0.0.0.0``: every interface, the links name this machine). Only
        GET/HEAD/OPTIONS are answered, with CORS headers.
    client
        Serve the neuroglancer client of the installed ``neuroglancer`` package at ``/``;
        False serves only the data (for a neuroglancer instance elsewhere).

    Returns
    -------
    StoreServer
        Already serving; its root ``url`` and the opened ``store``. A context manager;
        ``close()`` stops it.

    Raises
    ------
    StoreNotFoundError
        If ``path`` is not a store.
    InputNotFoundError
        If ``client`` and no neuroglancer client is installed.
    """
    store = VolumeStore.open(path)
    mounts = {DATA_PATH: store.path.resolve()}
    if _precomputed_root(store).is_dir():
        mounts[PRECOMPUTED_PATH] = _precomputed_root(store)
    if client:
        mounts[CLIENT_PATH] = neuroglancer_client()
    server = _Server((host, port), functools.partial(_Handler, directory=str(store.path)))
    server.mounts, server.closing = mounts, threading.Event()
    return StoreServer(server, store)


def _dimensions(store: VolumeStore) -> dict[str, list[Any]]:
    dz, dy, dx = store.voxel_size
    # in metres, as neuroglancer states units; x first: the xy plane fills the main panel
    return {"x": [dx * 1e-6, "m"], "y": [dy * 1e-6, "m"], "z": [dz * 1e-6, "m"]}


def _label_layer(name: str, url: str, precomputed: Path) -> tuple[dict[str, Any], bool]:
    sources: list[str] = [f"zarr3://{url}data/labels/{name}/"]
    ids: set[int] = set()
    for kind in ("meshes", "skeletons"):
        folder = precomputed / name / kind
        if (folder / "info").is_file():
            from volseg.reconstruct import precomputed_ids

            sources.append(f"precomputed://{url}precomputed/{name}/{kind}")
            ids.update(precomputed_ids(folder))
    layer: dict[str, Any] = {"type": "segmentation", "source": sources, "name": name}
    if 0 < len(ids) <= MAX_LISTED_SEGMENTS:
        layer["segments"] = [str(i) for i in sorted(ids)]
    return layer, len(sources) > 1


def neuroglancer_state(
    store: VolumeStore, url: str, *, labels: Sequence[str] | None = None
) -> dict[str, Any]:
    """The neuroglancer state of ``store`` as :func:`serve_store` serves it at ``url``.

    Parameters
    ----------
    store
        The served store.
    url
        The server's root (``StoreServer.url``).
    labels
        The label images to show (default: all of them, in the store's order).

    Returns
    -------
    dict
        Global dimensions x, y, z (voxel size in m), ``displayDimensions`` x, y, z, the
        position at the volume's centre, a zoom that fits the xy plane in a panel, the
        4-panel layout (xy main, xz, yz, 3D), an ``image`` layer and a segmentation layer
        per label image. A label image with precomputed meshes or skeletons (an objects
        image of ``volseg reconstruct``) gets them as further sources, its objects listed
        in ``segments`` (so the 3D panel draws them, up to :data:`MAX_LISTED_SEGMENTS`),
        and the other label images start hidden.

    Raises
    ------
    ConfigError
        If ``labels`` names a label image the store does not have.
    """
    base = url.rstrip("/") + "/"
    names = store.label_names if labels is None else list(labels)
    if missing := [n for n in names if n not in store.label_names]:
        raise ConfigError(
            f"{store.path} has no label image {', '.join(missing)}; "
            f"its label images are {store.label_names}"
        )
    image = {"type": "image", "source": f"zarr3://{base}data/", "name": "image"}
    built = [_label_layer(n, base, _precomputed_root(store)) for n in names]
    if any(has_objects for _, has_objects in built):
        for layer, has_objects in built:
            if not has_objects:
                layer["visible"] = False
    nz, ny, nx = store.image(0).shape
    dz, dy, dx = store.voxel_size
    return {
        "dimensions": _dimensions(store),
        "displayDimensions": ["x", "y", "z"],
        "position": [nx // 2, ny // 2, nz // 2],
        "crossSectionScale": max(nx, ny) / _PANEL_PIXELS,
        "projectionScale": 1.5 * max(nx, ny * dy / dx, nz * dz / dx),
        "layers": [image, *(layer for layer, _ in built)],
        "selectedLayer": {"layer": built[-1][0]["name"] if built else "image"},
        "layout": "4panel",
    }


def neuroglancer_url(state: dict[str, Any], viewer: str) -> str:
    """The link that opens ``state`` in the neuroglancer at ``viewer`` (a server's root, or
    another neuroglancer instance)."""
    return f"{viewer.rstrip('/')}/#!{quote(json.dumps(state, separators=(',', ':')))}"
