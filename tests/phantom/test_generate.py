"""generate_phantom: the store level (chunking, workers, metadata, validator, CLI)."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from ome_zarr_models.v05.image import Image as OmeImage

from volseg.io import VolumeStore, open_labels, open_volume
from volseg.phantom import CLASS_NAMES, PhantomConfig, generate_phantom, task_boxes
from volseg.testing import run_volseg


def _arrays(path):
    return open_volume(path).values, open_labels(path, "ground_truth").values


@pytest.mark.parametrize("mode", ["fast", "ct"])
def test_same_seed_same_bytes_whatever_the_chunks_and_workers(tmp_path, mode):
    config = PhantomConfig(shape=(6, 80, 72), seed=5, mode=mode)
    a = generate_phantom(
        tmp_path / "a.zarr", config, chunks=(6, 80, 72), num_workers=1, progress=False
    )
    b = generate_phantom(
        tmp_path / "b.zarr", config, chunks=(4, 32, 48), num_workers=2, progress=False
    )
    assert b.image(0).chunks == (4, 32, 48)
    (ia, la), (ib, lb) = _arrays(a.path), _arrays(b.path)
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(la, lb)
    other = generate_phantom(
        tmp_path / "c.zarr", config.model_copy(update={"seed": 6}), progress=False
    )
    assert not np.array_equal(_arrays(other.path)[0], ia)


def test_store_records_classes_fractions_voxel_size_and_identity(tmp_path):
    config = PhantomConfig(shape=(8, 128, 128), seed=2, voxel_size=(2.0, 0.65, 0.65))
    store = generate_phantom(tmp_path / "p.zarr", config, levels=2, progress=False)
    assert store.complete
    assert store.voxel_size == (2.0, 0.65, 0.65)
    assert store.classes("ground_truth") == list(CLASS_NAMES)
    fractions = store.label_group("ground_truth").attrs["volseg"]["class_fractions"]
    labels = open_labels(store.path).values
    for value, name in enumerate(CLASS_NAMES):
        assert fractions[name] == pytest.approx((labels == value).mean())
    prov = store.meta["provenance"]
    assert prov["config"]["seed"] == 2 and prov["config"]["mode"] == "fast"
    assert prov["inputs"][0]["kind"] == "phantom" and len(prov["inputs"][0]["scene_sha256"]) == 64
    assert store.meta["phantom"]["somas"] > 0
    OmeImage.from_zarr(zarr.open_group(store.path, mode="r"))  # external validator


def test_ct_tasks_are_whole_slices_and_fast_tasks_are_chunks():
    fast = PhantomConfig(shape=(10, 100, 90))
    ct = fast.model_copy(update={"mode": "ct"})
    assert {b.shape for b in task_boxes(fast, (4, 64, 64))} >= {(4, 64, 64), (2, 36, 26)}
    assert {b.shape for b in task_boxes(ct, (4, 64, 64))} == {(4, 100, 90), (2, 100, 90)}


def test_an_existing_store_is_not_overwritten_by_default(tmp_path):
    config = PhantomConfig(shape=(2, 32, 32))
    generate_phantom(tmp_path / "p.zarr", config, progress=False)
    with pytest.raises(FileExistsError, match="--overwrite"):
        generate_phantom(tmp_path / "p.zarr", config, progress=False)
    assert VolumeStore.open(tmp_path / "p.zarr").complete


def test_cli_phantom_and_its_errors(tmp_path):
    out = tmp_path / "p.zarr"
    res = run_volseg(
        "phantom",
        str(out),
        "--shape",
        "4,96,80",
        "--seed",
        "3",
        "--dtype",
        "uint16",
        "--no-progress",
    )
    assert res.returncode == 0, res.stderr
    assert "1=soma" in res.stdout and "status       complete" in res.stdout
    vol = open_volume(out)
    assert vol.shape == (4, 96, 80) and vol.dtype == np.uint16
    direct = generate_phantom(
        tmp_path / "d.zarr",
        PhantomConfig(shape=(4, 96, 80), seed=3, dtype="uint16"),
        progress=False,
    )
    np.testing.assert_array_equal(vol.values, open_volume(direct.path).values)

    res = run_volseg("phantom", str(tmp_path / "x.zarr"), "--mode", "bogus")
    assert res.returncode == 2 and "--mode" in res.stderr and "Traceback" not in res.stderr
    res = run_volseg("phantom", str(tmp_path / "x.zarr"), "--shape", "0,64,64")
    assert res.returncode == 2 and "--shape" in res.stderr
    res = run_volseg("phantom", str(tmp_path / "x.zarr"), "--preset", "huge")
    assert res.returncode == 2 and "unknown phantom preset" in res.stderr
    assert not (tmp_path / "x.zarr").exists()


def test_scene_identity_is_a_function_of_the_resolved_config():
    from volseg.phantom import draw_scene
    from volseg.phantom._generate import scene_digest

    a = scene_digest(draw_scene(PhantomConfig(shape=(4, 64, 64))))
    b = scene_digest(draw_scene(PhantomConfig(shape=(4, 64, 64), seed=0, nuclei=True)))
    c = scene_digest(draw_scene(PhantomConfig(shape=(4, 64, 64), seed=1)))
    assert a == b != c
