"""Small synthetic segmentation datasets on disk, for tests and examples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def blob_images(
    n: int, shape: tuple[int, int] = (96, 96), *, seed: int = 0, blobs: int = 6
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy uint8 images with bright discs and their 0/1 labels (an easy task)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    images = np.empty((n, *shape), np.uint8)
    labels = np.zeros((n, *shape), np.uint8)
    for i in range(n):
        for _ in range(blobs):
            cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
            r = rng.uniform(4, 12)
            labels[i][(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = 1
        noisy = 60 + 120 * labels[i] + rng.normal(0, 25, shape)
        images[i] = np.clip(noisy, 0, 255).astype(np.uint8)
    return images, labels


def write_blob_dataset(
    folder: str | Path, n: int, shape: tuple[int, int] = (96, 96), *, seed: int = 0
) -> Path:
    """Write ``images/img_K.png`` and ``labels/img_K.png`` like the shared tomography data."""
    folder = Path(folder)
    images, labels = blob_images(n, shape, seed=seed)
    for sub, data in (("images", images), ("labels", labels)):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        for k, arr in enumerate(data):
            Image.fromarray(arr).save(folder / sub / f"img_{k}.png")
    return folder
