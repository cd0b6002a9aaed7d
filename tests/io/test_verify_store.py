"""``verify_store`` / ``volseg verify``: every kind of damage is found and named; a clean
store passes with exit 0."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from volseg.io import VolumeStore, ingest, verify_store
from volseg.testing import run_volseg, write_slices


@pytest.fixture
def ingested(tmp_path: Path) -> Path:
    """An ingested (5, 20, 30) uint8 volume with labels, in (2, 16, 16) chunks, 2 levels;
    the first slice all zero (its chunks are stored all the same)."""
    rng = np.random.default_rng(0)
    vol = rng.integers(1, 255, (5, 20, 30), dtype=np.uint8)
    vol[0] = 0
    write_slices(tmp_path / "img", vol)
    write_slices(tmp_path / "lab", (vol > 128).astype(np.uint8))
    store = ingest(tmp_path / "img", tmp_path / "v.zarr", labels=tmp_path / "lab",
                   chunks=(2, 16, 16), levels=2, num_workers=1, progress=False)  # fmt: skip
    return store.path


def _flip(chunk: Path) -> None:
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    chunk.write_bytes(bytes(raw))


def test_a_clean_ingested_store_verifies_with_its_digests(ingested: Path) -> None:
    report = verify_store(ingested, progress=False)
    assert report.ok and report.damaged == []
    # 2 levels of image and labels: 3*2*2 + 1*1*1 chunks each
    assert report.arrays == 4 and report.chunks == 2 * (12 + 1)
    assert [(d.role, d.ok) for d in report.digests] == [("image", True), ("labels", True)]


def test_every_all_zero_image_chunk_is_stored(ingested: Path) -> None:
    assert all(
        (ingested / "0" / "c" / "0" / str(y) / str(x)).is_file() for y in (0, 1) for x in (0, 1)
    )


def test_verify_names_corrupt_truncated_and_missing_chunks(ingested: Path) -> None:
    _flip(ingested / "0" / "c" / "1" / "0" / "1")
    labels = ingested / "labels" / "ground_truth" / "0" / "c" / "2" / "1" / "0"
    labels.write_bytes(labels.read_bytes()[:5])
    (ingested / "1" / "c" / "0" / "0" / "0").unlink()
    report = verify_store(ingested, progress=False)
    assert not report.ok
    found = {(d.array, d.key, d.problem) for d in report.damaged}
    assert found == {
        ("0", "c/1/0/1", "corrupt"),
        ("labels/ground_truth/0", "c/2/1/0", "corrupt"),
        ("1", "c/0/0/0", "missing"),
    }
    # damaged level 0 arrays: their digests cannot be recomputed, which is said
    assert [(d.role, d.ok) for d in report.digests] == [("image", None), ("labels", None)]


def test_a_missing_label_chunk_is_background_not_damage(ingested: Path) -> None:
    (ingested / "labels" / "ground_truth" / "0" / "c" / "0" / "0" / "0").unlink()
    report = verify_store(ingested, progress=False)
    assert report.damaged == []
    # ... but the voxels changed, so the labels' ingest digest no longer matches
    assert [(d.role, d.ok) for d in report.digests] == [("image", True), ("labels", False)]
    assert not report.ok


def test_the_cli_exits_0_on_a_clean_store_and_1_naming_the_damage(ingested: Path) -> None:
    res = run_volseg("verify", ingested, "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "ok, 26 chunks of 4 arrays decode, 2 input digest(s) match" in res.stdout
    _flip(ingested / "0" / "c" / "2" / "1" / "1")
    res = run_volseg("verify", ingested, "--no-progress")
    assert res.returncode == 1
    assert "0/c/2/1/1: corrupt (checksum mismatch)" in res.stdout
    assert "DAMAGED, 1 of 26 chunks (0 missing)" in res.stdout.splitlines()[-1]
    res = run_volseg("verify", ingested, "--no-progress", "--json")
    summary = json.loads(res.stdout)
    assert res.returncode == 1 and summary["ok"] is False
    assert summary["damaged"] == [
        {"array": "0", "key": "c/2/1/1", "problem": "corrupt", "detail": "checksum mismatch"}
    ]


def test_verify_reads_a_store_written_without_checksums(tmp_path: Path) -> None:
    from zarr.codecs import BloscCodec

    store = VolumeStore.create(tmp_path / "v.zarr", shape=(2, 4, 4), dtype="uint8")
    group = store.group
    del group["0"]
    group.create_array("0", shape=(2, 4, 4), chunks=(1, 4, 4), dtype="uint8",
                       compressors=[BloscCodec()], dimension_names=("z", "y", "x"))  # fmt: skip
    VolumeStore.open(tmp_path / "v.zarr", mode="a").image(0)[:] = 3
    report = verify_store(tmp_path / "v.zarr", progress=False)
    assert report.ok and report.chunks == 2
