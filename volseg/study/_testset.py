"""The held-out test images of a study: a volseg store with ground truth, checked to share
no image with the training or validation data."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from volseg.errors import ConfigError, InputError
from volseg.io import GROUND_TRUTH, VolumeStore, ingest, strict_image, strict_labels
from volseg.train import DataConfig, SliceSet

#: The study's copy of test images given as a folder.
TEST_STORE = "test.ome.zarr"


@dataclass(frozen=True)
class TestSet:
    """Test images in ``store`` (image + ``labels/ground_truth``), scored on ``slices``
    (None: all); ``identity`` (per-slice sha256, classes) is part of every run's hash."""

    store: Path
    slices: list[int] | None
    depth: int
    identity: dict[str, Any]


def _digest(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image, np.float32).tobytes()).hexdigest()


def prepare_test(data: DataConfig, out: Path, *, progress: bool = True) -> TestSet:
    """The test images of ``data`` as a store: a folder (``images/`` + ``labels/``) is
    ingested into ``out/test.ome.zarr``; a store is used in place.

    Raises
    ------
    InputError
        Test images without labels (a folder without ``labels/``, a store without
        ``labels/ground_truth``), or a folder with ``slices`` (give the test images their
        own folder).
    """
    source = Path(data.source)
    if not source.exists():
        raise InputError(f"test images {source} do not exist; give a folder or a volseg store")
    if (source / "zarr.json").is_file():
        store = VolumeStore.open(source)
        store.require_complete()
        if data.labels not in store.label_names:
            raise InputError(
                f"test images {source} have no labels/{data.labels} (it has "
                f"{store.label_names or 'no labels'}); the test images must be annotated"
            )
        if data.labels != GROUND_TRUTH:
            raise ConfigError(
                f"test labels must be the store's labels/{GROUND_TRUTH}, got {data.labels!r}"
            )
        path = source
        if data.slices is not None:  # only the test slices are segmented: copy them out
            depth = int(store.image(0).shape[0])
            bad = [z for z in data.slices if not 0 <= z < depth]
            if bad:
                raise ConfigError(
                    f"test slice {bad[0]} is outside {source}'s slices 0..{depth - 1}"
                )
            zs = list(data.slices)
            image = strict_image(store.image(0))  # a damaged chunk is an error naming its key
            truth = strict_labels(store.labels(GROUND_TRUTH))
            path = write_test_store(
                np.stack([image[z] for z in zs]),
                np.stack([truth[z] for z in zs]),
                out / TEST_STORE,
                classes=store.classes(GROUND_TRUTH),
                voxel_size=store.voxel_size,
            )
            digests = [_digest(image[z]) for z in zs]
            identity = {
                "source": str(source.resolve()),
                "slices": zs,
                "sha256": digests,
                "classes": store.classes(GROUND_TRUTH),
            }
            return TestSet(store=path, slices=None, depth=len(zs), identity=identity)
    else:
        if not (source / "labels").is_dir():
            raise InputError(
                f"test images {source} have no labels/ folder; the test images must be "
                "annotated (images/ and labels/ with matching file names)"
            )
        if data.slices is not None:
            raise ConfigError(
                f"test: slices of a folder ({source}) are not supported; put the test "
                "images in a folder of their own"
            )
        path = out / TEST_STORE
        out.mkdir(parents=True, exist_ok=True)
        ingest(source, path, overwrite=True, progress=progress, num_workers=1)
        store = VolumeStore.open(path)
    image = strict_image(store.image(0))
    depth = int(image.shape[0])
    slices = data.slices
    if slices is not None:
        bad = [z for z in slices if not 0 <= z < depth]
        if bad:
            raise ConfigError(f"test slice {bad[0]} is outside {source}'s slices 0..{depth - 1}")
    zs = slices if slices is not None else list(range(depth))
    digests = [_digest(image[z]) for z in zs]
    identity = {
        "source": str(source.resolve()),
        "slices": zs,
        "sha256": digests,
        "classes": store.classes(GROUND_TRUTH),
    }
    return TestSet(store=path, slices=slices, depth=depth, identity=identity)


def check_held_out(test: TestSet, sets: dict[str, SliceSet]) -> None:
    """Refuse test images that are also training or validation images (same pixels)."""
    held = dict(zip(test.identity["sha256"], test.identity["slices"], strict=True))
    for role, sset in sets.items():
        for name, image in zip(sset.names, sset.images, strict=True):
            centre = image[image.shape[0] // 2] if image.ndim == 3 else image
            z = held.get(_digest(centre))
            if z is not None:
                raise ConfigError(
                    f"test image {z} of {test.identity['source']} is also {role} image "
                    f"{name}; test images must be held out of training and validation"
                )


def write_test_store(
    image: np.ndarray,
    labels: np.ndarray,
    path: Path,
    *,
    classes: list[str] | None,
    voxel_size: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> Path:
    """A complete store at ``path`` (replaced) holding ``image`` and its ground truth."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "image.npy", image)
        np.save(Path(tmp) / "labels.npy", labels)
        ingest(
            Path(tmp) / "image.npy",
            path,
            labels=Path(tmp) / "labels.npy",
            classes=classes,
            voxel_size=voxel_size,
            overwrite=True,
            progress=False,
            num_workers=1,
        )
    return path
