"""Write slice stacks to disk the way instruments and other tools do."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import tifffile
from PIL import Image


def write_slices(
    folder: str | Path,
    volume: np.ndarray,
    *,
    fmt: Literal["png", "tif"] = "png",
    prefix: str = "slice_",
    pad: int = 0,
) -> list[Path]:
    """Write ``volume`` (Z, Y, X[, C]) as one file per slice; return the paths in z order.

    ``pad=0`` writes unpadded numbers (``slice_2``, ``slice_10``) so that only a natural
    sort gives z order.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for z, sl in enumerate(volume):
        path = folder / f"{prefix}{z:0{pad}d}.{fmt}"
        if fmt == "tif":
            tifffile.imwrite(path, sl)
        else:
            Image.fromarray(sl).save(path)
        paths.append(path)
    return paths


def truncate_file(path: str | Path, keep: float = 0.5) -> None:
    """Cut a file to a fraction of its bytes, as an interrupted copy would."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
