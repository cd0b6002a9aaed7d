"""Neuroglancer precomputed meshes and skeletons: byte layout, units, and what reconstruct
writes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import trimesh
from neuroglancer.skeleton import Skeleton as NgSkeleton
from neuroglancer.skeleton import VertexAttributeInfo

from volseg.errors import CorruptInputError, InputError, InputNotFoundError
from volseg.io import VolumeStore
from volseg.reconstruct import (
    PRECOMPUTED_DIR,
    export_objects,
    export_precomputed,
    object_mesh,
    object_skeleton,
    precomputed_ids,
    read_precomputed_mesh,
    read_precomputed_skeleton,
    read_swc,
    write_precomputed_mesh,
    write_precomputed_skeleton,
)


def ball(radius: int = 6) -> np.ndarray:
    z, y, x = np.ogrid[-radius - 2 : radius + 3, -radius - 2 : radius + 3, -radius - 2 : radius + 3]
    return z**2 + y**2 + x**2 <= radius**2


def tube() -> np.ndarray:
    mask = np.zeros((9, 9, 40), bool)
    mask[3:6, 3:6, 2:38] = True
    mask[3:6, 3:8, 20:23] = True  # a side branch
    return mask


def test_mesh_is_written_in_nanometres_with_the_legacy_layout(tmp_path: Path):
    mesh = object_mesh(ball(), voxel_size=(2.0, 0.5, 0.5), origin_index=(10, 20, 30))
    fragment = write_precomputed_mesh(tmp_path, 7, mesh.vertices, mesh.faces)
    assert json.loads((tmp_path / "info").read_text()) == {"@type": "neuroglancer_legacy_mesh"}
    assert json.loads((tmp_path / "7:0").read_text()) == {"fragments": [fragment.name]}
    data = fragment.read_bytes()
    n, m = len(mesh.vertices), len(mesh.faces)
    assert int(np.frombuffer(data, "<u4", 1)[0]) == n and len(data) == 4 + 12 * n + 12 * m
    vertices, faces = read_precomputed_mesh(tmp_path, 7)
    np.testing.assert_allclose(vertices, mesh.vertices * 1000, rtol=1e-6)
    np.testing.assert_array_equal(faces, mesh.faces)
    # x, y, z in nm: the ball's centre is voxel (z, y, x) = (10 + 8, 20 + 8, 30 + 8)
    centre = (vertices.max(0) + vertices.min(0)) / 2
    np.testing.assert_allclose(centre, [38 * 500, 28 * 500, 18 * 2000], atol=1.0)


def test_skeleton_bytes_equal_neuroglancers_own_encoder(tmp_path: Path):
    skeleton = object_skeleton(tube(), voxel_size=(1.0, 0.5, 0.25))
    assert len(skeleton) > 10 and skeleton.n_branch_points >= 1
    path = write_precomputed_skeleton(tmp_path, 3, skeleton)
    info = json.loads((tmp_path / "info").read_text())
    assert info["@type"] == "neuroglancer_skeletons"
    child = np.flatnonzero(skeleton.parents >= 0)
    edges = np.column_stack([skeleton.parents[child], child])
    reference = NgSkeleton(
        skeleton.nodes * 1000, edges, vertex_attributes={"radius": skeleton.radii * 1000}
    )

    class Source:  # what neuroglancer's encoder reads of a skeleton source
        def __init__(self) -> None:
            self.vertex_attributes = {"radius": VertexAttributeInfo("float32", 1)}

    assert path.read_bytes() == reference.encode(Source())
    vertices, read_edges, radii = read_precomputed_skeleton(tmp_path, 3)
    np.testing.assert_allclose(vertices, skeleton.nodes * 1000, rtol=1e-6)
    np.testing.assert_array_equal(read_edges, edges)
    np.testing.assert_allclose(radii, skeleton.radii * 1000, rtol=1e-6)


def test_ids_listed_and_bad_files_named(tmp_path: Path):
    mesh = object_mesh(ball(3), voxel_size=(1, 1, 1))
    for object_id in (12, 3):
        write_precomputed_mesh(tmp_path, object_id, mesh.vertices, mesh.faces)
    assert precomputed_ids(tmp_path) == [3, 12]
    assert precomputed_ids(tmp_path / "nothing") == []
    with pytest.raises(InputError, match="0 is background"):
        write_precomputed_mesh(tmp_path, 0, mesh.vertices, mesh.faces)
    with pytest.raises(InputError, match="missing vertex"):
        write_precomputed_mesh(tmp_path, 5, mesh.vertices[:3], mesh.faces)
    with pytest.raises(InputNotFoundError, match="4:0"):
        read_precomputed_mesh(tmp_path, 4)
    (tmp_path / "12.frag").write_bytes(np.uint32(10).tobytes() + b"\0" * 8)
    with pytest.raises(CorruptInputError, match=r"12\.frag"):
        read_precomputed_mesh(tmp_path, 12)
    (tmp_path / "9").write_bytes(np.array([2, 1], "<u4").tobytes())
    with pytest.raises(CorruptInputError, match="2 vertices, 1 edges"):
        read_precomputed_skeleton(tmp_path, 9)


def test_reconstruct_writes_each_objects_mesh_and_skeleton_for_neuroglancer(
    reconstruction: Path,
):
    table = pd.read_parquet(reconstruction / "objects.parquet")
    store = VolumeStore.open(reconstruction / "objects.zarr")
    folder = reconstruction / PRECOMPUTED_DIR / "soma_objects"
    ids = table["id"].tolist()
    assert len(ids) == 3
    assert precomputed_ids(folder / "meshes") == ids == precomputed_ids(folder / "skeletons")
    voxel_nm = np.array(store.voxel_size[::-1]) * 1000  # x, y, z
    for row in table.to_dict("records"):
        vertices, faces = read_precomputed_mesh(folder / "meshes", row["id"])
        ply = trimesh.load(reconstruction / "meshes" / f"object_{row['id']}.ply", process=False)
        np.testing.assert_allclose(vertices, ply.vertices * 1000, rtol=1e-6)
        np.testing.assert_array_equal(faces, ply.faces)
        # on the object's voxels: within its bounding box (x, y, z; end exclusive), in nm
        low = np.array([row[f"bbox_{a}0"] for a in "xyz"]) * voxel_nm
        high = (np.array([row[f"bbox_{a}1"] for a in "xyz"]) - 1) * voxel_nm
        assert np.all(vertices.min(0) >= low - voxel_nm) and np.all(
            vertices.max(0) <= high + voxel_nm
        )
        assert np.all(vertices.max(0) - vertices.min(0) >= (high - low) / 2)
        nodes, edges, radii = read_precomputed_skeleton(folder / "skeletons", row["id"])
        swc = read_swc(reconstruction / "skeletons" / f"object_{row['id']}.swc")
        np.testing.assert_allclose(nodes, swc.nodes * 1000, atol=0.1)
        np.testing.assert_allclose(radii, swc.radii * 1000, atol=0.1)
        assert len(edges) == len(swc) - 1  # one tree per object: a parent for all but the root


def test_meshes_read_from_glb_metres_land_where_the_ply_micrometres_do(tmp_path: Path):
    labels = np.zeros((12, 20, 24), np.uint8)
    labels[2:8, 3:12, 4:15] = 1
    table = pd.DataFrame(
        {"id": [1], "bbox_z0": [2], "bbox_y0": [3], "bbox_x0": [4]}
        | {"bbox_z1": [8], "bbox_y1": [12], "bbox_x1": [15]}
    )
    export = export_objects(
        labels, table, tmp_path, voxel_size=(2.0, 0.5, 0.25), formats=("ply", "glb"),
        skeletons="none", progress=False,
    )  # fmt: skip
    from_ply = export_precomputed(
        replace(export, mesh_files={1: {"ply": export.mesh_files[1]["ply"]}}), tmp_path / "a"
    )
    from_glb = export_precomputed(
        replace(export, mesh_files={1: {"glb": export.mesh_files[1]["glb"]}}), tmp_path / "b"
    )
    assert from_ply.mesh_ids == from_glb.mesh_ids == (1,) and from_glb.skeletons is None
    ply_vertices, ply_faces = read_precomputed_mesh(from_ply.meshes, 1)
    glb_vertices, glb_faces = read_precomputed_mesh(from_glb.meshes, 1)
    np.testing.assert_allclose(glb_vertices, ply_vertices, rtol=1e-5)
    np.testing.assert_array_equal(glb_faces, ply_faces)
    # voxels x 4..14 of 0.25 µm: the surface lies half a voxel out, 875..3625 nm
    assert 850 < ply_vertices[:, 0].min() < 1100 and 3400 < ply_vertices[:, 0].max() < 3650
