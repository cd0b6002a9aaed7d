"""``volseg reconstruct`` end to end on a phantom (``volseg view``: tests/test_view.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.ndimage as ndi
import trimesh
import zarr

from volseg.phantom import PhantomConfig, generate_phantom
from volseg.reconstruct import read_swc
from volseg.testing import run_volseg


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("recon") / "phantom.zarr"
    generate_phantom(
        path, PhantomConfig(shape=(24, 128, 128), seed=5), chunks=(8, 64, 64), progress=False
    )
    return path


def test_reconstruct_writes_objects_table_meshes_and_skeletons(phantom: Path, tmp_path: Path):
    out = tmp_path / "objects"
    args = ["reconstruct", phantom, "--out", out, "--labels", "ground_truth", "--workers", "1"]
    res = run_volseg(*args, "--formats", "ply,obj,stl,glb", "--no-progress")
    assert res.returncode == 0, res.stderr
    table = pd.read_parquet(out / "objects.parquet")
    gt = zarr.open_array(phantom / "labels/ground_truth/0")[:]
    _, n = ndi.label(gt == 1, structure=np.ones((3, 3, 3)))
    assert len(table) == n > 0 and f"{n} objects" in res.stdout
    assert table["mesh_watertight"].all()
    # the mesh encloses about the object's voxel volume (big enough objects)
    big = table[table["voxels"] >= 200]
    assert len(big) > 0
    assert np.allclose(big["mesh_volume_um3"], big["volume_um3"], rtol=0.25)
    for fmt in ("ply", "obj", "stl"):
        assert len(list((out / "meshes").glob(f"object_*.{fmt}"))) == n
    scene = trimesh.load(out / "meshes" / "scene.glb")
    assert isinstance(scene, trimesh.Scene) and len(scene.geometry) == n
    assert "napari --plugin napari-ome-zarr" in res.stdout
    # the same command again refuses to overwrite, and says how
    again = run_volseg(*args, "--no-progress")
    assert again.returncode != 0 and "--overwrite" in again.stderr


def test_vessels_get_swc_skeletons(phantom: Path, tmp_path: Path):
    out = tmp_path / "vessels"
    res = run_volseg(
        "reconstruct", phantom, "--out", out, "--labels", "ground_truth", "--classes", "vessel",
        "--skeletons", "all", "--no-meshes", "--workers", "1", "--no-progress",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    table = pd.read_csv(out / "objects.csv")
    assert len(table) > 0 and (table["skeleton_length_um"] > 0).any()
    files = sorted((out / "skeletons").glob("*.swc"))
    assert len(files) > 0 and not (out / "skeletons" / "all.swc").exists()
    assert f"skeletons {len(files)} SWC files" in res.stdout
    for path in files:  # one tree per file, every node of the custom type 7 (vessel)
        assert read_swc(path).n_trees == 1
        rows = [line.split() for line in path.read_text().splitlines() if line[0] != "#"]
        assert {r[1] for r in rows} == {"7"}
    assert not (out / "meshes").exists()


def test_unknown_class_is_named_with_the_choices(phantom: Path, tmp_path: Path):
    res = run_volseg(
        "reconstruct", phantom, "--out", tmp_path / "x", "--labels", "ground_truth",
        "--classes", "axon", "--workers", "1",
    )  # fmt: skip
    assert res.returncode != 0
    assert "axon" in res.stderr and "soma" in res.stderr


def test_an_output_being_written_is_never_replaced(phantom: Path, tmp_path: Path):
    from volseg.errors import RunLockedError
    from volseg.io import VolumeStore
    from volseg.reconstruct import reconstruct_components
    from volseg.runtime import RunLock

    first = reconstruct_components(phantom, tmp_path, labels="ground_truth", progress=False)
    before = pd.read_parquet(first.parquet)
    with RunLock(first.store), pytest.raises(RunLockedError, match="being written"):
        reconstruct_components(
            phantom, tmp_path, labels="ground_truth", overwrite=True, progress=False
        )
    assert VolumeStore.open(first.store).complete
    assert pd.read_parquet(first.parquet).equals(before)


def test_bad_options_are_named_before_anything_starts(phantom: Path, tmp_path: Path):
    out = tmp_path / "x"
    res = run_volseg(
        "reconstruct", phantom, "--out", out, "--border", "sideways", "--connectivity", "8",
        "--formats", "ply,fbx", "--workers", "1",
    )  # fmt: skip
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.startswith("error: invalid reconstruct options: --connectivity: ")
    for flag in ("--border", "--connectivity", "--formats"):
        assert flag in res.stderr
    assert not out.exists()
