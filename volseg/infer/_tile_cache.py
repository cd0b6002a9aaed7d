"""The tiling chosen by ``volseg study tiles``, cached per checkpoint, device and slice size.

``volseg segment --tile auto`` reads it when it resolves a run; the study writes it. It
lives here, below both, because it is a fact about inference: which tiling runs these
weights fastest on this device within a stated label tolerance.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from volseg._files import write_atomically
from volseg.errors import ConfigError
from volseg.models import resolve_device
from volseg.tiling import WindowKind

__all__ = [
    "CACHE_ENV",
    "PLANE_BUCKET",
    "TileChoice",
    "device_name",
    "lookup_tile_choice",
    "plane_bucket",
    "store_tile_choice",
    "tile_cache_path",
]

#: Environment variable naming volseg's cache folder (default ``~/.cache/volseg``).
CACHE_ENV = "VOLSEG_CACHE_DIR"
#: Slice sides are rounded up to this many px to key the cache: the best tile depends on
#: how tiles cover the slice, not on its last few pixels.
PLANE_BUCKET = 256
_FORMAT = "volseg-tile-cache/1"


def tile_cache_path() -> Path:
    """``$VOLSEG_CACHE_DIR/tiles.json``, else ``$XDG_CACHE_HOME/volseg/tiles.json``, else
    ``~/.cache/volseg/tiles.json``."""
    folder = os.environ.get(CACHE_ENV)
    if folder:
        return Path(folder).expanduser() / "tiles.json"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "volseg" / "tiles.json"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def device_name(device: str | torch.device) -> str:
    """The device a timing holds for: ``"cuda:<GPU name>"`` or ``"cpu:<CPU model>"``.

    A home folder (and with it the cache) is often shared by the nodes of a cluster, so the
    CPU model is part of the name, not just ``"cpu"``.
    """
    dev = resolve_device(device)
    if dev.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(dev)}"
    return f"cpu:{_cpu_model()}"


def plane_bucket(shape: tuple[int, int]) -> tuple[int, int]:
    """An in-plane ``(y, x)`` slice shape rounded up to multiples of :data:`PLANE_BUCKET`."""
    return (
        -(-int(shape[0]) // PLANE_BUCKET) * PLANE_BUCKET,
        -(-int(shape[1]) // PLANE_BUCKET) * PLANE_BUCKET,
    )


@dataclass(frozen=True)
class TileChoice:
    """A tiling chosen by a tile study, with where and when it was measured.

    Attributes
    ----------
    sha256 : str
        Weights hash of the checkpoint.
    device : str
        :func:`device_name` of the device it was timed on.
    plane : (int, int)
        :func:`plane_bucket` of the study volume's slices.
    tile, overlap, context : int
        The tiling in px (``context`` as measured, derived from the overlap).
    window : {"gaussian", "uniform", "crop-centre"}
        The blending window.
    voxels_per_s, disagreement : float
        Its measured throughput and fraction of labels that differ from a single pass.
    created : str
        ISO date and time of the study.
    study : str or None
        The study's ``tiles.json``, when it was written.
    """

    sha256: str
    device: str
    plane: tuple[int, int]
    tile: int
    overlap: int
    context: int
    window: WindowKind
    voxels_per_s: float
    disagreement: float
    created: str
    study: str | None = None

    @property
    def key(self) -> str:
        return _key(self.sha256, self.device, self.plane)


def _key(sha256: str, device: str, plane: tuple[int, int]) -> str:
    return f"{sha256}|{device}|{plane[0]}x{plane[1]}"


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {"format": _FORMAT, "entries": {}}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"tile cache {path} cannot be read ({exc}); delete it and run "
            "`volseg study tiles` again"
        ) from None
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        raise ConfigError(
            f"tile cache {path} is not a volseg tile cache ({_FORMAT}); delete it or set "
            f"{CACHE_ENV} to another folder"
        )
    return data


def store_tile_choice(choice: TileChoice, *, path: str | Path | None = None) -> Path:
    """Add (or replace) ``choice`` in the cache file, written atomically; returns its path.

    Two studies finishing at the same instant may lose one entry (the last write wins), never
    corrupt the file.
    """
    target = Path(path) if path is not None else tile_cache_path()
    data = _read(target)
    data["entries"][choice.key] = {**asdict(choice), "plane": list(choice.plane)}
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    return write_atomically(target, lambda f: f.write(text.encode()))


def lookup_tile_choice(
    sha256: str,
    device: str,
    plane: tuple[int, int],
    *,
    path: str | Path | None = None,
) -> TileChoice | None:
    """The cached choice for these weights, :func:`device_name` and slice shape, or None.

    ``plane`` is the volume's in-plane shape; it is bucketed with :func:`plane_bucket`.

    Raises
    ------
    ConfigError
        A cache file that is not valid JSON or not a volseg tile cache.
    """
    source = Path(path) if path is not None else tile_cache_path()
    entry = _read(source)["entries"].get(_key(sha256, device, plane_bucket(plane)))
    if entry is None:
        return None
    try:
        return TileChoice(**{**entry, "plane": tuple(entry["plane"])})
    except (TypeError, KeyError):
        raise ConfigError(
            f"tile cache {source}: the entry for {sha256[:12]} on {device} is malformed; "
            "run `volseg study tiles` again to replace it"
        ) from None
