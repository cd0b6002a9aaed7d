"""Fixtures of the training-data tests: a tiny labelled store and small slice folders."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from volseg.io import GROUND_TRUTH, VolumeStore


@dataclass(frozen=True)
class TinyStore:
    path: Path
    image: np.ndarray  # (z, y, x) uint16; slice z holds z * 1000 + noise
    labels: np.ndarray  # (z, y, x) uint8, classes 0..2
    classes: list[str]


@pytest.fixture
def tiny_store(tmp_path: Path) -> TinyStore:
    """A complete (5, 40, 48) uint16 store with three-class ``labels/ground_truth``, stored in
    chunks that do not divide the volume evenly."""
    shape = (5, 40, 48)
    rng = np.random.default_rng(5)
    z = np.arange(shape[0], dtype=np.uint16)[:, None, None]
    image = z * 1000 + rng.integers(0, 500, shape).astype(np.uint16)
    labels = np.zeros(shape, np.uint8)
    labels[rng.random(shape) < 0.1] = 1
    labels[:, 10:14, 5:30] = 2
    labels[3] = 0  # one slice of background only
    classes = ["background", "soma", "vessel"]
    store = VolumeStore.create(
        tmp_path / "tiny.zarr", shape=shape, dtype="uint16", chunks=(2, 16, 20),
        voxel_size=(2.0, 0.5, 0.5),
    )  # fmt: skip
    store.image(0)[:] = image
    store.create_labels(GROUND_TRUTH, classes=classes)[:] = labels
    store.mark_complete()
    return TinyStore(store.path, image, labels, classes)


WriteFolder = Callable[..., Path]


@pytest.fixture
def write_folder() -> WriteFolder:
    """``write_folder(root, images, labels, suffix=".png")`` writes ``root/images/<name>``
    and ``root/labels/<name>`` from ``{name: array}`` mappings and returns ``root``."""

    def write(
        root: Path,
        images: Mapping[str, np.ndarray],
        labels: Mapping[str, np.ndarray],
        *,
        suffix: str = ".png",
    ) -> Path:
        for sub, arrays in (("images", images), ("labels", labels)):
            (root / sub).mkdir(parents=True, exist_ok=True)
            for name, arr in arrays.items():
                Image.fromarray(arr).save(root / sub / f"{name}{suffix}")
        return root

    return write
