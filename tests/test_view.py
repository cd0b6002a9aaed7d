"""``volseg view``'s server and neuroglancer state (the browser test: test_view_browser.py)."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import neuroglancer
import pytest

from volseg.errors import ConfigError
from volseg.view import CLIENT_PATH, neuroglancer_state, neuroglancer_url, serve_store


def get(url: str, path: str, method: str = "GET") -> http.client.HTTPResponse:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request(method, path)
    return connection.getresponse()


def test_state_shows_xyz_the_image_labels_and_object_meshes(reconstruction: Path):
    with serve_store(reconstruction / "objects.zarr", port=0) as server:
        state = neuroglancer_state(server.store, server.url)
        link = neuroglancer_url(state, server.url)
    url = server.url
    assert list(state["dimensions"]) == ["x", "y", "z"]  # the xy plane in the main panel
    assert state["dimensions"]["x"] == [1e-6, "m"]  # the phantom's 1 µm voxels, in metres
    assert state["displayDimensions"] == ["x", "y", "z"]
    assert state["position"] == [64, 64, 12]  # (x, y, z) centre of the (24, 128, 128) volume
    image, classes, objects = state["layers"]
    assert image == {"type": "image", "source": f"zarr3://{url}data/", "name": "image"}
    assert classes["name"] == "ground_truth" and classes["visible"] is False
    assert objects["type"] == "segmentation" and "visible" not in objects
    assert objects["source"] == [
        f"zarr3://{url}data/labels/soma_objects/",
        f"precomputed://{url}precomputed/soma_objects/meshes",
        f"precomputed://{url}precomputed/soma_objects/skeletons",
    ]
    assert objects["segments"] == ["1", "2", "3"]  # the 3D panel draws every object's mesh
    assert link.startswith(url + "#!") and json.loads(unquote(link.split("#!")[1])) == state
    # neuroglancer's own state model reads it back unchanged
    parsed = neuroglancer.ViewerState(state)
    assert [layer.type for layer in parsed.layers] == ["image", "segmentation", "segmentation"]
    assert list(parsed.dimensions.names) == ["x", "y", "z"]
    assert sorted(int(s) for s in parsed.layers["soma_objects"].segments) == [1, 2, 3]
    assert len(parsed.layers["soma_objects"].source) == 3


def test_labels_can_be_chosen_and_unknown_ones_are_named(reconstruction: Path):
    with serve_store(reconstruction / "objects.zarr", port=0, client=False) as server:
        only_image = neuroglancer_state(server.store, server.url, labels=[])
        with pytest.raises(ConfigError, match=r"no label image axons.*soma_objects"):
            neuroglancer_state(server.store, server.url, labels=["axons"])
    assert [layer["name"] for layer in only_image["layers"]] == ["image"]
    # a store without precomputed files: its label images are plain segmentation layers
    with serve_store(reconstruction.parent / "phantom.zarr", port=0) as server:
        plain = neuroglancer_state(server.store, server.url)
    (layer,) = plain["layers"][1:]
    assert layer["source"] == [f"zarr3://{server.url}data/labels/ground_truth/"]
    assert "segments" not in layer and "visible" not in layer


def test_one_origin_serves_client_store_and_meshes_with_cors(reconstruction: Path):
    with serve_store(reconstruction / "objects.zarr", port=0) as server:
        root = get(server.url, "/")
        assert root.status == 302 and root.headers["Location"] == CLIENT_PATH
        assert get(server.url, "/", "HEAD").status == 302
        page = get(server.url, CLIENT_PATH)
        assert page.status == 200 and b"<title>neuroglancer</title>" in page.read()
        wasm = next(p.name for p in Path(neuroglancer.__file__).parent.rglob("client/*.wasm"))
        assert get(server.url, CLIENT_PATH + wasm).headers["Content-Type"] == "application/wasm"
        meta = get(server.url, "/data/zarr.json")
        assert meta.headers["Access-Control-Allow-Origin"] == "*"
        assert json.loads(meta.read())["attributes"]["ome"]["multiscales"]
        info = get(server.url, "/precomputed/soma_objects/meshes/info")
        assert json.loads(info.read()) == {"@type": "neuroglancer_legacy_mesh"}
        assert get(server.url, "/data/zarr.json", "OPTIONS").status == 204
        for outside in ("/etc/passwd", "/data/../../phantom.zarr/zarr.json", "/v/other/"):
            assert get(server.url, outside).status == 404
        # the client's state channel: an event stream that stays open and silent
        events = get(server.url, "/events/volseg?c=1&gc=")
        assert events.headers["Content-Type"] == "text/event-stream"
        events.fp.raw._sock.settimeout(0.5)  # type: ignore[attr-defined]
        with pytest.raises(socket.timeout):
            events.read(1)
    with serve_store(reconstruction / "objects.zarr", port=0, client=False) as server:
        assert get(server.url, CLIENT_PATH).status == 404
        assert get(server.url, "/data/zarr.json").status == 200
    # on every interface, the links name this machine (a browser elsewhere cannot use 0.0.0.0)
    with serve_store(reconstruction / "objects.zarr", host="0.0.0.0", port=0) as server:
        assert urlsplit(server.url).hostname == socket.getfqdn().lower()
        assert get(f"http://127.0.0.1:{server.server.server_address[1]}/", "/").status == 302


def test_cli_prints_a_link_to_another_neuroglancer_on_request(reconstruction: Path):
    store = reconstruction / "objects.zarr"
    other = "https://neuroglancer.example.org"
    cmd = [sys.executable, "-c", "from volseg.cli import main; main()", "view", str(store)]
    with subprocess.Popen(
        [*cmd, "--port", "0", "--neuroglancer", other], stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            lines = [proc.stdout.readline() for _ in range(2)]  # type: ignore[union-attr]
        finally:
            proc.terminate()
    served, link = lines
    data = served.split(" at ")[1].strip()
    assert served.startswith("serving ") and data.endswith("/data/")
    assert link.startswith(f"neuroglancer: {other}/#!")
    state = json.loads(unquote(link.split("#!")[1]))
    assert state["layers"][0]["source"] == f"zarr3://{data}"
