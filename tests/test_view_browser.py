"""``volseg view`` in a real browser: headless Chromium opens the printed link, offline.

Chromium is driven over the DevTools protocol (tornado's websocket client; tornado comes with
neuroglancer) so each screenshot waits until neuroglancer says every visible chunk is drawn
(``viewer.isReady()``). WebGL2 comes from SwiftShader, on the CPU. The objects' colours are
the ones neuroglancer gives their ids (``neuroglancer.segment_colors``, colour seed 0); a
segmentation drawn over the grey image keeps its colour's hue, so pixels are counted by hue.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pytest
from neuroglancer.segment_colors import hex_string_from_segment_id
from PIL import Image

from volseg.view import neuroglancer_url

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
OBJECTS = (1, 2, 3)  # the reconstruction fixture's object ids
MIN_PIXELS = 150  # of each object's colour where it is drawn (each covers > 400 px here)
MAX_STRAY = 10  # of any object's colour where no object is drawn


class Browser:
    """Headless Chromium with one page, driven over the DevTools protocol."""

    def __init__(self, executable: str, profile: Path) -> None:
        self.log = profile / "chromium.log"
        args = [
            executable,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--use-angle=swiftshader",
            "--enable-unsafe-swiftshader",
            "--window-size=1024,768",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=log)
        self.loop = asyncio.new_event_loop()
        self.errors: list[str] = []
        self._id = 0
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError(f"Chromium did not start; see {self.log}")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        self.ws = self.loop.run_until_complete(self._connect(page["webSocketDebuggerUrl"]))
        self.call("Runtime.enable")

    async def _connect(self, url: str) -> Any:
        from tornado.websocket import websocket_connect

        return await websocket_connect(url, max_message_size=1 << 28)

    async def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._id += 1
        await self.ws.write_message(
            json.dumps({"id": self._id, "method": method, "params": params})
        )
        while True:
            message = json.loads(await self.ws.read_message())
            if message.get("method") == "Runtime.exceptionThrown":
                self.errors.append(json.dumps(message["params"]["exceptionDetails"])[:500])
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        return self.loop.run_until_complete(self._call(method, params))

    def _ready(self) -> bool:
        expression = "window.viewer !== undefined && window.viewer.isReady()"
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value") is True

    def _capture(self) -> np.ndarray:
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

    def screenshot(
        self, url: str, *, until: Callable[[np.ndarray], bool] | None = None, timeout: float = 60
    ) -> np.ndarray:
        """Open ``url``, wait until neuroglancer has drawn every visible chunk (1.5 s in a
        row) and a further second, and return the page as (h, w, 3) RGB; with ``until``,
        keep taking screenshots until it holds or ``timeout`` passes."""
        self.call("Page.navigate", url="about:blank")
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        ready = 0
        while ready < 3:
            if time.monotonic() > deadline:
                raise AssertionError(f"neuroglancer never got ready at {url[:80]}: {self.errors}")
            ready = ready + 1 if self._ready() else 0
            time.sleep(0.5)
        time.sleep(1.0)
        image = self._capture()
        while until is not None and not until(image) and time.monotonic() < deadline:
            time.sleep(0.5)
            image = self._capture()
        return image

    def close(self) -> None:
        if hasattr(self, "ws"):
            self.ws.close()
        self.process.terminate()
        self.process.wait(timeout=30)
        self.loop.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    executable = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if executable is None:
        pytest.skip("chromium not installed: .ci/setup installs it as root on Debian")
    chromium = Browser(executable, tmp_path_factory.mktemp("chromium"))
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture(scope="module")
def link(reconstruction: Path) -> Iterator[str]:
    """The link ``volseg view objects.zarr --port 0`` prints (its server runs meanwhile)."""
    cmd = [sys.executable, "-c", "from volseg.cli import main; main()", "view"]
    store = str(reconstruction / "objects.zarr")
    with subprocess.Popen([*cmd, store, "--port", "0"], stdout=subprocess.PIPE, text=True) as p:
        try:
            lines = [p.stdout.readline() for _ in range(2)]  # type: ignore[union-attr]
            assert lines[1].startswith("neuroglancer: http://127.0.0.1:"), lines
            yield lines[1].removeprefix("neuroglancer: ").strip()
        finally:
            p.send_signal(signal.SIGINT)
            p.wait(timeout=30)


def hue(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hue in [0, 1) and chroma (max - min, 0-255) of RGB pixels."""
    rgb = rgb.astype(float)
    high, low = rgb.max(-1), rgb.min(-1)
    chroma = high - low
    c = np.maximum(chroma, 1e-9)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    h = np.where(
        high == r, ((g - b) / c) % 6, np.where(high == g, (b - r) / c + 2, (r - g) / c + 4)
    )
    return h / 6, chroma


def colour_counts(image: np.ndarray, ids=OBJECTS) -> dict[int, int]:
    """Pixels of each object's neuroglancer colour (hue within 0.02, chroma >= 40)."""
    h, chroma = hue(image)
    counts = {}
    for object_id in ids:
        code = hex_string_from_segment_id(0, object_id)
        (h0,), _ = hue(np.array([[int(code[i : i + 2], 16) for i in (1, 3, 5)]]))
        distance = np.abs(h - h0)
        distance = np.minimum(distance, 1 - distance)
        counts[object_id] = int(((distance < 0.02) & (chroma >= 40)).sum())
    return counts


def panels(image: np.ndarray) -> np.ndarray:
    """The page below the top bars (the layer bar shows the listed objects' colours)."""
    return image[image.shape[0] // 10 :]


def main_panel(image: np.ndarray) -> np.ndarray:
    """The xy panel: the top-left quarter of the 4-panel layout, below the layer bar."""
    h, w = image.shape[:2]
    return image[h // 10 : h // 2, : w // 2]


def state_of(link: str) -> tuple[str, dict[str, Any]]:
    root, fragment = link.split("#!", 1)
    return root, json.loads(unquote(fragment))


def drawn(crop: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], bool]:
    return lambda image: min(colour_counts(crop(image)).values()) >= MIN_PIXELS


def test_printed_link_shows_the_objects_in_the_xy_plane(browser: Browser, link: str, tmp_path):
    image = browser.screenshot(link, until=drawn(main_panel))
    Image.fromarray(image).save(tmp_path / "volseg_view.png")
    counts = colour_counts(main_panel(image))
    assert min(counts.values()) >= MIN_PIXELS, (counts, tmp_path / "volseg_view.png")
    # control: the same server and state without the label layers shows none of them
    root, state = state_of(link)
    state["layers"] = [layer for layer in state["layers"] if layer["type"] == "image"]
    control = browser.screenshot(neuroglancer_url(state, root))
    Image.fromarray(control).save(tmp_path / "volseg_view_image_only.png")
    assert max(colour_counts(panels(control)).values()) <= MAX_STRAY, colour_counts(control)
    # the grey image is drawn in both: the control is not a blank page
    assert (hue(main_panel(control))[1] < 10).mean() > 0.5


def test_3d_panel_draws_the_object_meshes(browser: Browser, link: str, tmp_path):
    root, state = state_of(link)
    state |= {"layout": "3d", "showSlices": False}  # the 3D panel alone, no slices in it
    image = browser.screenshot(neuroglancer_url(state, root), until=drawn(panels))
    Image.fromarray(image).save(tmp_path / "volseg_view_3d.png")
    assert min(colour_counts(panels(image)).values()) >= MIN_PIXELS, colour_counts(image)
    # control: the objects' voxels alone (no mesh source) leave the 3D panel empty
    objects = state["layers"][-1]
    objects["source"] = [s for s in objects["source"] if s.startswith("zarr3://")]
    control = browser.screenshot(neuroglancer_url(state, root))
    Image.fromarray(control).save(tmp_path / "volseg_view_3d_no_meshes.png")
    assert max(colour_counts(panels(control)).values()) <= MAX_STRAY, colour_counts(control)
