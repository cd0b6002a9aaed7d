from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import trimesh
import zarr

from volseg.errors import ConfigError, InputError
from volseg.geometry import Box
from volseg.reconstruct._export import export_objects
from volseg.reconstruct._sampling import read_sampled_mask, sample_mask
from volseg.reconstruct._swc import read_swc

VOXEL = (2.0, 1.0, 1.0)
SPHERES = {1: ((10, 15, 15), 6), 2: ((10, 45, 20), 5), 3: ((28, 30, 45), 7)}
TUBE = 7  # along x at z=28, y=10, radius 3, x in [5, 55)


def synthetic_labels() -> np.ndarray:
    z, y, x = np.indices((36, 60, 60))
    labels = np.zeros((36, 60, 60), np.uint16)
    for object_id, ((cz, cy, cx), r) in SPHERES.items():
        # spheres in µm: z voxels are twice as long
        inside = ((z - cz) * VOXEL[0]) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= r**2
        labels[inside] = object_id
    tube = (((z - 28) * VOXEL[0]) ** 2 + (y - 10) ** 2 <= 9) & (x >= 5) & (x < 55)
    labels[tube] = TUBE
    return labels


def object_table(labels: np.ndarray) -> pd.DataFrame:
    rows = []
    for object_id in np.unique(labels[labels > 0]):
        where = np.argwhere(labels == object_id)
        lo, hi = where.min(axis=0), where.max(axis=0) + 1
        extent = (hi - lo) * np.asarray(VOXEL)
        rows.append(
            {
                "id": int(object_id),
                **dict(zip(["bbox_z0", "bbox_y0", "bbox_x0"], lo.tolist(), strict=True)),
                **dict(zip(["bbox_z1", "bbox_y1", "bbox_x1"], hi.tolist(), strict=True)),
                "elongation": extent.max() / extent.min(),
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def labels() -> zarr.Array:
    data = synthetic_labels()
    array = zarr.create_array(
        store=zarr.storage.MemoryStore(), shape=data.shape, dtype=data.dtype, chunks=(16, 16, 16)
    )
    array[:] = data
    return array


def test_export_writes_every_file_and_measures_each_object(tmp_path, labels):
    data = labels[:]
    table = object_table(data)
    result = export_objects(labels, table, tmp_path, voxel_size=VOXEL, progress=False)

    ids = [1, 2, 3, TUBE]
    assert sorted(result.mesh_files) == ids
    for object_id in ids:
        for fmt in ("ply", "obj", "stl", "glb"):
            assert (tmp_path / "meshes" / f"object_{object_id}.{fmt}").is_file()
    assert sorted(result.scene_files) == ["glb", "obj", "ply", "stl"]
    scene = trimesh.load(result.scene_files["glb"])
    assert sorted(scene.graph.nodes_geometry) == [f"object_{i}" for i in ids]

    # only the tube is elongated enough to be skeletonized
    assert list(result.skeleton_files) == [TUBE]
    tube = read_swc(tmp_path / "skeletons" / f"object_{TUBE}.swc")
    assert tube.n_trees == 1 and tube.n_branch_points == 0
    assert 50 - 2 * 3 - 2 <= tube.length_um <= 50
    np.testing.assert_allclose(tube.nodes[:, 1:], [[10.0, 28 * 2.0]] * len(tube), atol=1.0)
    assert not (tmp_path / "skeletons" / "all.swc").exists()  # one tree per file only

    m = result.measurements.set_index("id")
    assert m.loc[ids, "mesh_watertight"].all()
    for object_id in ids:
        voxels = np.count_nonzero(data == object_id) * np.prod(VOXEL)
        assert m.loc[object_id, "mesh_volume_um3"] == pytest.approx(voxels, rel=0.06)
    for object_id, ((cz, cy, cx), r) in SPHERES.items():
        mesh = trimesh.load(result.mesh_files[object_id]["ply"], force="mesh")
        np.testing.assert_allclose(mesh.centroid, [cx, cy, cz * 2.0], atol=0.3)
        assert m.loc[object_id, "mesh_area_um2"] == pytest.approx(4 * np.pi * r**2, rel=0.15)
    assert m.loc[[1, 2, 3], "skeleton_length_um"].isna().all()
    assert m.loc[TUBE, "skeleton_length_um"] == pytest.approx(tube.length_um, rel=1e-5)
    assert json.loads((tmp_path / "export.json").read_text())["voxel_size"] == list(VOXEL)


def test_export_with_a_small_voxel_budget_downsamples_large_objects(tmp_path, labels):
    table = object_table(labels[:])
    result = export_objects(
        labels,
        table,
        tmp_path,
        voxel_size=VOXEL,
        formats=["ply"],
        skeletons="all",
        max_voxels=2000,
        progress=False,
    )
    m = result.measurements.set_index("id")
    assert m.loc[3, "downsample_factor"] != (1, 1, 1)
    assert m.loc[[1, 2, 3, TUBE], "mesh_watertight"].all()
    # every object is skeletonized; a single-node skeleton (a round blob) is not written
    assert m.loc[[1, 2, 3, TUBE], "skeleton_nodes"].notna().all()
    written = sorted(m.index[m["skeleton_nodes"] > 1])
    assert TUBE in written and sorted(result.skeleton_files) == written
    assert all(read_swc(p).n_trees == 1 for p in result.skeleton_files.values())
    assert list(result.scene_files) == ["ply"]


@pytest.mark.parametrize("max_voxels", [10**6, 700, 90])
def test_slab_reading_equals_downsampling_the_whole_crop(labels, max_voxels):
    box = Box((3, 1, 2), (35, 58, 57))  # does not divide by any factor
    sampled = read_sampled_mask(labels, box, 3, voxel_size=VOXEL, max_voxels=max_voxels)
    whole = sample_mask(
        labels[box.slices] == 3, voxel_size=VOXEL, origin_index=box.start, max_voxels=max_voxels
    )
    assert sampled.factor == whole.factor
    np.testing.assert_array_equal(sampled.mask, whole.mask)
    assert sampled.origin_um == whole.origin_um
    assert sampled.mask.size <= max_voxels


def test_export_nothing_but_the_record(tmp_path, labels):
    table = object_table(labels[:])
    result = export_objects(
        labels, table, tmp_path, voxel_size=VOXEL, meshes=False, skeletons="none", progress=True
    )
    assert result.n_meshes == result.n_skeletons == 0
    assert result.measurements["id"].tolist() == [1, 2, 3, TUBE]
    assert result.measurements["mesh_volume_um3"].isna().all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.json"]


def test_export_refuses_tables_that_do_not_fit(tmp_path, labels):
    table = object_table(labels[:])
    with pytest.raises(InputError, match="elongation"):
        export_objects(labels, table.drop(columns="elongation"), tmp_path, voxel_size=VOXEL)
    wrong = table.copy()
    wrong.loc[0, ["bbox_z0", "bbox_z1"]] = [0, 1]
    wrong.loc[0, ["bbox_y0", "bbox_y1"]] = [58, 60]
    with pytest.raises(InputError, match="object 1 has no voxel"):
        export_objects(labels, wrong, tmp_path, voxel_size=VOXEL, progress=False)
    with pytest.raises(ConfigError, match="format"):
        export_objects(labels, table, tmp_path, voxel_size=VOXEL, formats=["vtk"])  # type: ignore[list-item]
