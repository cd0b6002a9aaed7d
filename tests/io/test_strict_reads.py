"""Checksummed writes and strict image reads: damage is an error naming the chunk key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec

from volseg.errors import CorruptChunkError, MissingChunkError
from volseg.geometry import Box
from volseg.io import VolumeStore, read_box


def _codecs(array_dir: Path) -> list[str]:
    return [c["name"] for c in json.loads((array_dir / "zarr.json").read_text())["codecs"]]


@pytest.fixture
def image(tmp_path: Path) -> zarr.Array:
    """A (4, 6, 5) uint16 image in (2, 3, 3) chunks (awkward: x does not divide evenly)."""
    store = VolumeStore.create(
        tmp_path / "v.zarr", shape=(4, 6, 5), dtype="uint16", chunks=(2, 3, 3)
    )
    data = np.arange(4 * 6 * 5, dtype=np.uint16).reshape(4, 6, 5) + 1
    store.image(0)[:] = data
    return store.image(0)


def test_images_and_labels_carry_a_crc32c_checksum_after_the_compressor(tmp_path: Path) -> None:
    store = VolumeStore.create(tmp_path / "v.zarr", shape=(4, 8, 8), dtype="uint8", levels=2)
    store.create_labels("truth", classes=["bg", "fg"])
    for rel in ("0", "1", "labels/truth/0", "labels/truth/1"):
        assert _codecs(tmp_path / "v.zarr" / rel) == ["bytes", "blosc", "crc32c"], rel


def test_scratch_arrays_carry_the_checksum_too() -> None:
    from volseg.io._layout import scratch_compressors

    assert [type(c).__name__ for c in scratch_compressors()] == ["BloscCodec", "Crc32cCodec"]


def test_read_box_equals_the_array_on_a_box_across_chunks(image: zarr.Array) -> None:
    box = Box((1, 2, 1), (4, 6, 5))
    np.testing.assert_array_equal(read_box(image, box), image[box.slices])


def test_a_flipped_byte_is_an_error_naming_the_chunk_key(image: zarr.Array, tmp_path: Path):
    chunk = tmp_path / "v.zarr" / "0" / "c" / "1" / "1" / "0"
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    chunk.write_bytes(bytes(raw))
    with pytest.raises(CorruptChunkError) as info:
        read_box(image, Box((0, 0, 0), (4, 6, 5)))
    text = str(info.value)
    assert "image chunk c/1/1/0 of " in text and str(tmp_path / "v.zarr" / "0") in text
    assert "checksum mismatch" in text and "\n" not in text
    # a box that does not touch the damaged chunk reads
    np.testing.assert_array_equal(read_box(image, Box((0, 0, 0), (2, 6, 5)))[0, 0, 0], 1)


def test_a_truncated_chunk_is_an_error_naming_the_chunk_key(image: zarr.Array, tmp_path: Path):
    chunk = tmp_path / "v.zarr" / "0" / "c" / "0" / "0" / "1"
    chunk.write_bytes(chunk.read_bytes()[:7])
    with pytest.raises(CorruptChunkError, match=r"image chunk c/0/0/1 of .* is corrupt"):
        read_box(image, Box((0, 0, 0), (1, 1, 5)))


def test_a_missing_image_chunk_is_an_error_unless_fill_missing(image: zarr.Array, tmp_path: Path):
    (tmp_path / "v.zarr" / "0" / "c" / "1" / "0" / "1").unlink()
    box = Box((2, 0, 3), (3, 2, 5))
    with pytest.raises(
        MissingChunkError, match=r"image chunk c/1/0/1 of .* is missing.*--fill-missing"
    ):
        read_box(image, box)
    assert isinstance(MissingChunkError("x"), FileNotFoundError)
    assert (read_box(image, box, fill_missing=True) == 0).all()


def test_a_store_without_a_checksum_still_reads(tmp_path: Path) -> None:
    group = zarr.open_group(tmp_path / "old.zarr", mode="w", zarr_format=3)
    old = group.create_array("0", shape=(3, 4, 4), chunks=(1, 4, 4), dtype="uint8",
                             compressors=[BloscCodec()])  # fmt: skip
    old[:] = 7
    assert _codecs(tmp_path / "old.zarr" / "0") == ["bytes", "blosc"]
    np.testing.assert_array_equal(read_box(old, Box((0, 0, 0), (3, 4, 4))), np.full((3, 4, 4), 7))
