"""Strict reads in every job that reads a store (reconstruct, classify, evaluate, train, the
studies): a corrupt chunk, or a missing image chunk, ends the job in one ``error:`` line
naming the array and the chunk key, exit 1, nothing marked complete; a missing labels chunk
is background (label writers omit all-background chunks)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from volseg.classify import FEATURES, classify, fit_classifier, save_classifier
from volseg.errors import BlocksFailedError, CorruptChunkError, MissingChunkError
from volseg.io import VolumeStore, open_labels
from volseg.reconstruct import reconstruct_components
from volseg.runtime import Ledger, connect
from volseg.study._testset import prepare_test
from volseg.testing import run_volseg, write_labels_store
from volseg.train import DataConfig, load_store, store_class_frequencies

CLASSES = ["background", "soma", "vessel"]
SHAPE = (8, 32, 32)
CHUNKS = (4, 16, 16)  # 2 x 2 x 2 chunks; blocks of one chunk each below
IMAGE_KEY = "c/1/0/1"  # the chunk at z 4:8, y 0:16, x 16:32
LABELS_KEY = "c/0/1/1"  # z 0:4, y 16:32, x 16:32: a soma and part of the vessel
LABELS_BOX = (slice(0, 4), slice(16, 32), slice(16, 32))


def _labels() -> np.ndarray:
    labels = np.zeros(SHAPE, np.uint8)
    for z0 in (0, 4):
        for y0 in (0, 16):
            for x0 in (0, 16):  # one soma in every chunk
                labels[z0 + 1 : z0 + 3, y0 + 4 : y0 + 9, x0 + 4 : x0 + 9] = 1
    labels[1:7, 26:28, 2:30] = 2  # a vessel across chunks, apart from the somas
    return labels


def _flip(chunk: Path) -> None:
    raw = bytearray(chunk.read_bytes())
    for i in range(len(raw) // 3, min(len(raw), len(raw) // 3 + 64)):
        raw[i] ^= 0xFF
    chunk.write_bytes(bytes(raw))


def _image_chunk(store: Path) -> Path:
    return store / "0" / IMAGE_KEY


def _labels_chunk(store: Path) -> Path:
    return store / "labels" / "segmentation" / "0" / LABELS_KEY


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("strict")
    return write_labels_store(root / "v.zarr", _labels(), classes=CLASSES, chunks=CHUNKS)


@pytest.fixture
def store(pristine: Path, tmp_path: Path) -> Path:
    """A fresh copy of the store, to damage."""
    return Path(shutil.copytree(pristine, tmp_path / "v.zarr"))


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classifier of the shipped features (fitted on noise: what it says does not matter)."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(8, len(FEATURES))), columns=list(FEATURES))
    clf = fit_classifier(table, [0, 1] * 4, features=FEATURES, classes=CLASSES[1:])
    return save_classifier(clf, tmp_path_factory.mktemp("clf") / "c.vsclf")


@pytest.fixture(scope="module")
def threads() -> Iterator[object]:
    """A cluster of threads in this process: the library calls below need no processes."""
    with connect(n_workers=1, threads_per_worker=2, processes=False) as client:
        yield client


def _one_error_line(stderr: str, *needles: str) -> str:
    """The ``error:`` line ending ``stderr`` (after the run summary), holding ``needles``."""
    assert "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), stderr
    assert all(n in last for n in needles), stderr
    return last


DAMAGE: dict[str, tuple[Callable[[Path], None], str, str]] = {
    # damage, the chunk named, the array named (relative to the store)
    "flipped-image": (lambda s: _flip(_image_chunk(s)), f"image chunk {IMAGE_KEY}", "0"),
    "missing-image": (lambda s: _image_chunk(s).unlink(), f"image chunk {IMAGE_KEY}", "0"),
    "flipped-labels": (
        lambda s: _flip(_labels_chunk(s)),
        f"labels chunk {LABELS_KEY}",
        "labels/segmentation/0",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_reconstruct_ends_in_one_line_naming_the_chunk_and_completes_nothing(
    store: Path, tmp_path: Path, damage: str
) -> None:
    hurt, chunk, array = DAMAGE[damage]
    hurt(store)
    out = tmp_path / "objects"
    res = run_volseg("reconstruct", store, "--out", out, "--classes", "soma,vessel",
                     "--block", "4,16,16", "--workers", "1", "--no-progress")  # fmt: skip
    assert res.returncode == 1, res.stderr
    what = "missing" if damage.startswith("missing") else "corrupt"
    needed = "needed by block 5" if damage.endswith("image") else "needed by block 3"
    _one_error_line(res.stderr, chunk, str(store.resolve() / array), what, needed)
    # the summary above it names the chunk once more, on one line of its own
    assert sum(chunk in x for x in res.stderr.splitlines()) == 2, res.stderr
    assert not VolumeStore.open(out / "objects.zarr").complete
    assert not (out / "objects.parquet").exists()


def test_classify_ends_in_one_line_naming_a_corrupt_image_chunk(
    store: Path, classifier: Path, tmp_path: Path
) -> None:
    _flip(_image_chunk(store))
    out = tmp_path / "classified"
    res = run_volseg("classify", store, "--classifier", classifier, "--out", out,
                     "--block", "4,16,16", "--workers", "1", "--no-progress")  # fmt: skip
    assert res.returncode == 1, res.stderr
    _one_error_line(res.stderr, f"image chunk {IMAGE_KEY} of {store.resolve() / '0'} is corrupt")
    assert not VolumeStore.open(out / "classified.zarr").complete
    assert Ledger(out / "classified.zarr").stored() is None  # no block marked done
    assert not (out / "objects.parquet").exists()


def test_classify_names_a_missing_image_chunk_and_completes_nothing(
    store: Path, classifier: Path, tmp_path: Path, threads
) -> None:
    _image_chunk(store).unlink()
    out = tmp_path / "classified"
    with pytest.raises(BlocksFailedError, match=f"image chunk {IMAGE_KEY} of .* is missing"):
        classify(store, classifier, out, block_shape=CHUNKS, client=threads, progress=False)
    assert not VolumeStore.open(out / "classified.zarr").complete
    assert Ledger(out / "classified.zarr").stored() is None


def _zeroed(pristine: Path, tmp_path: Path) -> Path:
    """The store with the labels of the deleted chunk's region written as background."""
    labels = _labels()
    labels[LABELS_BOX] = 0
    return write_labels_store(tmp_path / "zeroed.zarr", labels, classes=CLASSES, chunks=CHUNKS)


def test_a_missing_labels_chunk_is_background_in_reconstruct_and_classify(
    store: Path, pristine: Path, classifier: Path, tmp_path: Path, threads
) -> None:
    _labels_chunk(store).unlink()
    zeroed = _zeroed(pristine, tmp_path)
    for kind in ("missing", "zeroed"):
        source = store if kind == "missing" else zeroed
        reconstruct_components(source, tmp_path / f"r-{kind}", classes=["soma", "vessel"],
                               block_shape=CHUNKS, client=threads, progress=False)  # fmt: skip
        classify(source, classifier, tmp_path / f"c-{kind}", block_shape=CHUNKS,
                 client=threads, progress=False)  # fmt: skip
    objects = [
        open_labels(tmp_path / f"r-{k}" / "objects.zarr", "soma_vessel_objects").values
        for k in ("missing", "zeroed")
    ]
    np.testing.assert_array_equal(*objects)
    assert objects[0].max() == 8  # 7 somas (one was in the chunk) and the vessel
    assert not objects[0][LABELS_BOX][:, 4:9, 4:9].any()
    for name in ("classified", "objects"):
        a, b = (
            open_labels(tmp_path / f"c-{k}" / "classified.zarr", name).values
            for k in ("missing", "zeroed")
        )
        np.testing.assert_array_equal(a, b)
    assert VolumeStore.open(tmp_path / "c-missing" / "classified.zarr").complete


def test_evaluate_ends_in_one_line_naming_a_corrupt_labels_chunk(
    store: Path, pristine: Path, tmp_path: Path
) -> None:
    _flip(_labels_chunk(store))
    res = run_volseg("evaluate", store, pristine, "--pred-labels", "segmentation",
                     "--gt-labels", "segmentation", "--out", tmp_path / "e")  # fmt: skip
    assert res.returncode == 1, res.stderr
    path = store.resolve() / "labels" / "segmentation" / "0"
    _one_error_line(res.stderr, f"labels chunk {LABELS_KEY} of {path} is corrupt (checksum")


def test_training_reads_name_a_damaged_chunk_and_read_missing_labels_as_background(
    store: Path, pristine: Path, tmp_path: Path
) -> None:
    _flip(_image_chunk(store))
    with pytest.raises(CorruptChunkError, match=f"image chunk {IMAGE_KEY} of .* is corrupt"):
        load_store(store, labels="segmentation", slices=[5])
    assert load_store(store, labels="segmentation", slices=[1]).images[0].shape == SHAPE[1:]
    _image_chunk(store).unlink()
    with pytest.raises(MissingChunkError, match=f"image chunk {IMAGE_KEY} of .* is missing"):
        load_store(store, labels="segmentation", slices=[6])
    shutil.copy(_image_chunk(pristine), _image_chunk(store))
    _flip(_labels_chunk(store))
    with pytest.raises(CorruptChunkError, match=f"labels chunk {LABELS_KEY} of .* is corrupt"):
        store_class_frequencies(store, labels="segmentation")
    _labels_chunk(store).unlink()
    missing = store_class_frequencies(store, labels="segmentation")
    zeroed = store_class_frequencies(_zeroed(pristine, tmp_path), labels="segmentation")
    np.testing.assert_array_equal(missing, zeroed)
    assert load_store(store, labels="segmentation", slices=[1]).labels[0][16:, 16:].max() == 0


def test_a_study_test_set_names_a_damaged_image_chunk(store: Path, tmp_path: Path) -> None:
    gt = VolumeStore.open(store, mode="a")
    gt.create_labels("ground_truth", classes=CLASSES)[:] = _labels()
    gt.mark_complete()
    _flip(_image_chunk(store))
    data = DataConfig(source=str(store), labels="ground_truth", slices=[2, 6])
    with pytest.raises(CorruptChunkError, match=f"image chunk {IMAGE_KEY} of .* is corrupt"):
        prepare_test(data, tmp_path / "study", progress=False)
