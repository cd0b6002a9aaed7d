"""StrictArray / read_selection: any basic selection of an image or labels array, read
strictly, equals the plain read; damage is named by chunk key; xarray views read so too."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import zarr

from volseg.errors import CorruptChunkError, MissingChunkError
from volseg.io import (
    VolumeStore,
    open_labels,
    open_volume,
    read_selection,
    strict_image,
    strict_labels,
)
from volseg.io._read import chunks_selected

SHAPE = (5, 7, 6)  # awkward: no axis divides into the (2, 3, 4) chunks


@pytest.fixture
def store(tmp_path: Path) -> VolumeStore:
    store = VolumeStore.create(tmp_path / "v.zarr", shape=SHAPE, dtype="uint16", chunks=(2, 3, 4))
    store.image(0)[:] = np.arange(np.prod(SHAPE), dtype=np.uint16).reshape(SHAPE) + 1
    labels = np.zeros(SHAPE, np.uint8)
    labels[0:2, 0:3, 0:4] = 1  # one labels chunk stored; the others are background
    store.create_labels("truth", classes=["bg", "fg"])[:] = labels
    store.mark_complete()
    return store


SELECTIONS = [
    (slice(None),),
    3,
    (1, 2),
    (slice(1, 5, 2), slice(None, None, 3), -1),
    (Ellipsis, 2),
    (slice(4, 2),),  # empty
    (np.int64(2), slice(2, 6)),
]


@pytest.mark.parametrize("key", SELECTIONS, ids=range(len(SELECTIONS)))
def test_a_strict_read_equals_the_plain_read(store: VolumeStore, key: object) -> None:
    image, labels = store.image(0), store.labels("truth")
    np.testing.assert_array_equal(strict_image(image)[key], image[key])  # type: ignore[index]
    np.testing.assert_array_equal(strict_labels(labels)[key], labels[key])  # type: ignore[index]


def test_only_the_chunks_a_stepped_selection_reads_are_needed(store: VolumeStore) -> None:
    image = store.image(0)
    assert chunks_selected(image, (slice(0, 5, 4), 0, slice(None))) == [
        (0, 0, 0), (0, 0, 1), (2, 0, 0), (2, 0, 1)
    ]  # fmt: skip
    (store.path / "0" / "c" / "1" / "0" / "0").unlink()  # z 2:4 is not read with step 4
    strict_image(image)[0:5:4, 0]
    with pytest.raises(MissingChunkError, match="image chunk c/1/0/0 of "):
        strict_image(image)[0:5:2, 0]


def test_damage_is_named_whatever_reads(store: VolumeStore) -> None:
    chunk = store.path / "labels" / "truth" / "0" / "c" / "0" / "0" / "0"
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    chunk.write_bytes(bytes(raw))
    (store.path / "0" / "c" / "2" / "2" / "1").unlink()
    labels = strict_labels(store.labels("truth"))
    with pytest.raises(CorruptChunkError, match=r"labels chunk c/0/0/0 of .*truth/0 is corrupt"):
        labels[1]
    assert not labels[2:].any()  # absent labels chunks are background
    with pytest.raises(CorruptChunkError, match="labels chunk c/0/0/0"):
        open_labels(store.path, "truth").load()
    with pytest.raises(MissingChunkError, match="image chunk c/2/2/1 of "):
        open_volume(store.path).load()
    assert open_volume(store.path, fill_missing=True).values[4, 6, 5] == 0
    assert open_volume(store.path).isel(z=slice(0, 4)).values.sum() > 0  # the rest reads
    with pytest.raises(MissingChunkError, match="image chunk c/2/2/1"):
        pickle.loads(pickle.dumps(strict_image(store.image(0))))[4]  # as a worker gets it


def test_a_foreign_array_reads_with_labels_semantics(tmp_path: Path) -> None:
    array = zarr.create_array(tmp_path / "a.zarr", shape=(4, 4), chunks=(2, 2), dtype="uint8")
    array[:2] = 3  # the zero chunks below are not stored (zarr's default)
    np.testing.assert_array_equal(read_selection(array, (), kind="labels"), array[:])
    with pytest.raises(MissingChunkError):
        read_selection(array, (), kind="image")
