from __future__ import annotations

import json

import numpy as np
import pytest

from volseg.io import VolumeStore, open_labels, open_volume
from volseg.testing import run_volseg, write_slices


def test_ingest_then_info(tmp_path):
    vol = np.arange(3 * 20 * 30, dtype=np.uint16).reshape(3, 20, 30)
    write_slices(tmp_path / "img", vol, fmt="tif")
    write_slices(tmp_path / "lab", (vol % 2).astype(np.uint8), fmt="tif")
    out = tmp_path / "v.zarr"
    res = run_volseg(
        "ingest",
        str(tmp_path / "img"),
        str(out),
        "--labels",
        str(tmp_path / "lab"),
        "--classes",
        "background,soma",
        "--voxel-size",
        "2,0.5,0.5",
        "--chunks",
        "2,16,16",
        "--levels",
        "2",
        "--no-progress",
    )
    assert res.returncode == 0, res.stderr
    assert "status       complete" in res.stdout
    np.testing.assert_array_equal(open_volume(out).values, vol)
    assert open_labels(out).attrs["classes"] == ["background", "soma"]
    store = VolumeStore.open(out)
    assert store.voxel_size == (2.0, 0.5, 0.5) and store.image(0).chunks == (2, 16, 16)
    assert store.meta["provenance"]["command"].startswith("volseg ingest")

    res = run_volseg("info", str(out), "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["shape"] == [3, 20, 30] and info["dtype"] == "uint16"
    assert info["labels"]["ground_truth"]["class_fractions"]["soma"] == pytest.approx(0.5)
    assert info["levels"] == [[3, 20, 30], [1, 10, 15]]
    text = run_volseg("info", str(out)).stdout
    assert "voxel size   2 x 0.5 x 0.5 µm" in text and "0=background" in text


def test_errors_are_one_clear_line_and_exit_2(tmp_path):
    write_slices(tmp_path / "img", np.zeros((2, 8, 8), np.uint8))
    (tmp_path / "img" / "slice_1.png").write_bytes(b"garbage")
    res = run_volseg("ingest", str(tmp_path / "img"), str(tmp_path / "v.zarr"))
    assert res.returncode == 2
    assert res.stderr.startswith("error: ") and "slice_1.png" in res.stderr
    assert "Traceback" not in res.stderr
    res = run_volseg("ingest", str(tmp_path / "img"), str(tmp_path / "v.zarr"), "--chunks", "a,b")
    assert res.returncode == 2 and "--chunks takes Z,Y,X" in res.stderr


def test_info_exits_1_on_an_incomplete_store(tmp_path):
    VolumeStore.create(tmp_path / "v.zarr", shape=(2, 8, 8), dtype="uint8")
    res = run_volseg("info", str(tmp_path / "v.zarr"))
    assert res.returncode == 1 and "INCOMPLETE" in res.stdout
