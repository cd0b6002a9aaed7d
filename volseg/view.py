"""Serve a store over HTTP for neuroglancer (and any web viewer of OME-Zarr)."""

from __future__ import annotations

import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

from volseg.io import VolumeStore

__all__ = ["NEUROGLANCER", "StoreServer", "neuroglancer_state", "neuroglancer_url", "serve_store"]

#: The public neuroglancer instance the printed link opens (any instance works).
NEUROGLANCER = "https://neuroglancer-demo.appspot.com"


class _Handler(SimpleHTTPRequestHandler):
    """Static files with CORS headers (a viewer on another origin reads the chunks)."""

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "*")
        self.send_header("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
        super().end_headers()

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a viewer fetches thousands of chunks: keep the terminal quiet


class StoreServer:
    """A running HTTP server for one store; ``url`` is its root. Stop it with :meth:`close`
    (or use it as a context manager)."""

    def __init__(self, server: ThreadingHTTPServer, store: VolumeStore) -> None:
        self.server, self.store = server, store
        host, port = server.server_address[:2]
        self.url = f"http://{host!s}:{port}/"
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> StoreServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_store(path: str | Path, *, host: str = "127.0.0.1", port: int = 8000) -> StoreServer:
    """Serve the OME-Zarr store at ``path`` on ``host:port`` (0: any free port) in a thread.

    Only the store's folder is served, read-only (GET/HEAD), with CORS headers.
    """
    store = VolumeStore.open(path)
    handler = functools.partial(_Handler, directory=str(store.path.resolve()))
    return StoreServer(ThreadingHTTPServer((host, port), handler), store)


def neuroglancer_state(url: str, store: VolumeStore) -> dict[str, Any]:
    """A neuroglancer state showing the image and every label image of ``store`` at ``url``.

    Label images become segmentation layers (object ids get colours, a click selects one).
    """
    base = url.rstrip("/")
    layers: list[dict[str, Any]] = [
        {"type": "image", "source": f"zarr3://{base}/", "name": "image"}
    ]
    for name in store.label_names:
        layers.append(
            {"type": "segmentation", "source": f"zarr3://{base}/labels/{name}/", "name": name}
        )
    return {"layers": layers, "layout": "4panel"}


def neuroglancer_url(state: dict[str, Any], viewer: str = NEUROGLANCER) -> str:
    """The link that opens ``state`` in a neuroglancer instance."""
    return f"{viewer.rstrip('/')}/#!{quote(json.dumps(state, separators=(',', ':')))}"
