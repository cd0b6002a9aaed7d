"""A reconstruction holds the lock of its output from before ``objects.zarr`` is made until
its last file: a second run is refused meanwhile, and the first finishes intact; the
config is built once, validated, and stored resolved with the output."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from volseg.errors import ConfigError, RunLockedError
from volseg.io import VolumeStore
from volseg.reconstruct import (
    CONNECTIVITIES,
    MESH_FORMATS,
    OBJECTS_STORE,
    SKELETON_MODES,
    BorderPolicy,
    ComponentsConfig,
    ReconstructConfig,
    _pipeline,
    _reconstruct,
    reconstruct,
    reconstruct_components,
)
from volseg.runtime import RunLock
from volseg.testing import write_labels_store

CLASSES = ["background", "soma", "vessel"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    classes = np.zeros((12, 24, 20), np.uint8)
    classes[1:5, 2:9, 3:8] = 1
    classes[6:11, 12:20, 10:17] = 1
    classes[2:4, 15:18, 2:4] = 1  # a small one
    path = tmp_path_factory.mktemp("recon_run") / "in.zarr"
    return write_labels_store(path, classes, classes=CLASSES, chunks=(4, 8, 8))


def scipy_objects(store: Path) -> np.ndarray:
    classes = np.asarray(VolumeStore.open(store).labels("segmentation")[:])
    return ndimage.label(classes == 1, np.ones((3, 3, 3)))[0]


def test_a_second_run_is_refused_while_the_first_holds_the_output_it_created(
    store, client, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    find = _reconstruct.find_components
    refused: list[RunLockedError] = []

    def find_while_a_second_run_tries(*args: Any, **kwargs: Any) -> Any:
        # the first run made objects.zarr and now finds the objects: a second run on the
        # same folder, even with overwrite, is refused and deletes nothing
        assert (out / OBJECTS_STORE / "zarr.json").is_file()
        with pytest.raises(RunLockedError, match="being written by another volseg run") as err:
            reconstruct_components(store, out, client=client, overwrite=True, progress=False)
        refused.append(err.value)
        assert (out / OBJECTS_STORE / "zarr.json").is_file()
        return find(*args, **kwargs)

    monkeypatch.setattr(_reconstruct, "find_components", find_while_a_second_run_tries)
    result = reconstruct_components(store, out, client=client, progress=False)
    assert len(refused) == 1
    labels = VolumeStore.open(result.store)
    assert labels.complete and RunLock(result.store).holder() is None
    np.testing.assert_array_equal(labels.labels(result.labels_name)[:], scipy_objects(store))
    assert len(pd.read_parquet(result.parquet)) == result.n_objects == 3


def test_the_lock_is_held_through_meshes_and_skeletons(store, client, tmp_path, monkeypatch):
    out = tmp_path / "out"
    export = _pipeline.export_objects
    refused: list[RunLockedError] = []

    def export_while_a_second_run_tries(*args: Any, **kwargs: Any) -> Any:
        with pytest.raises(RunLockedError):
            reconstruct(store, out, client=client, overwrite=True, progress=False)
        refused.append(RunLockedError())
        return export(*args, **kwargs)

    monkeypatch.setattr(_pipeline, "export_objects", export_while_a_second_run_tries)
    result = reconstruct(
        store, out, client=client, progress=False, formats="PLY", smooth_iterations=2
    )
    assert len(refused) == 1
    assert result.export is not None and sorted(result.export.mesh_files) == [1, 2, 3]
    assert sorted(p.name for p in (out / "meshes").iterdir()) == [
        "object_1.ply", "object_2.ply", "object_3.ply", "scene.ply"
    ]  # fmt: skip
    assert RunLock(result.components.store).holder() is None


def test_the_config_is_stored_resolved_with_the_output(store, client, tmp_path):
    config = ReconstructConfig(min_voxels=20, meshes=False, skeletons="none")
    result = reconstruct(store, tmp_path / "out", config, client=client, progress=False)
    assert result.config == config and result.export is None
    assert result.n_objects == 2 and result.components.n_removed == 1  # the small one: dust
    stored = VolumeStore.open(result.components.store).meta["provenance"]["config"]
    assert stored == {
        **config.model_dump(mode="json"),
        "labels_store": str(store.resolve()),
        "classes": ["soma"],  # chosen: the labels have somas
        "class_ids": [1],
        "block_shape": [4, 24, 24],  # derived from the chunks (whole slices)
    }
    # the stored config rebuilds the config the run resolved
    rebuilt = ReconstructConfig.model_validate(
        {k: v for k, v in stored.items() if k in ReconstructConfig.model_fields}
    )
    assert rebuilt == config.model_copy(update={"classes": ["soma"], "block_shape": (4, 24, 24)})


def test_options_are_validated_once_naming_the_option(store, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"^invalid reconstruct options: connectivity: "):
        reconstruct_components(store, out, connectivity=8)
    with pytest.raises(ConfigError, match=r"min_voxel: Extra inputs are not permitted"):
        reconstruct(store, out, min_voxel=5)
    with pytest.raises(ConfigError, match=r"formats\.1: Input should be 'ply', 'obj'"):
        reconstruct(store, out, formats=["ply", "fbx"])
    with pytest.raises(ConfigError, match=r"simplify: Input should be less than or equal to 1"):
        reconstruct(store, out, ReconstructConfig(), simplify=2)
    with pytest.raises(TypeError, match="config must be a ReconstructConfig"):
        reconstruct(store, out, ComponentsConfig())  # type: ignore[arg-type]
    assert not out.exists()  # refused before anything was written


def test_the_config_normalizes_what_people_type():
    config = ReconstructConfig(classes="vessel", formats="PLY, glb,ply")
    assert config.classes == ("vessel",) and config.formats == ("ply", "glb")
    assert ComponentsConfig(classes=["soma", "vessel", "soma"]).classes == ("soma", "vessel")
    with pytest.raises(ConfigError, match="smooth_iterations: Input should be greater"):
        ReconstructConfig(smooth_iterations=-1)
    with pytest.raises(ValueError, match="frozen"):
        config.min_voxels = 3  # type: ignore[misc]


def test_each_option_type_is_defined_once():
    fields = ReconstructConfig.model_fields
    assert get_args(fields["connectivity"].annotation) == CONNECTIVITIES == (6, 18, 26)
    assert get_args(fields["border"].annotation) == get_args(BorderPolicy) == ("keep", "drop")
    assert get_args(fields["skeletons"].annotation) == SKELETON_MODES
    (formats,) = get_args(fields["formats"].annotation)[:1]
    assert get_args(formats) == MESH_FORMATS == ("ply", "obj", "stl", "glb")
