from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scipy import ndimage as ndi

from volseg.errors import ConfigError, InputError
from volseg.reconstruct._mesh import object_mesh, write_mesh, write_scene
from volseg.reconstruct._sampling import downsample_factor, sample_mask

# GLB holds metres, the other formats µm
UM_PER_UNIT = {"ply": 1.0, "obj": 1.0, "stl": 1.0, "glb": 1e6}


def ball(radius: float, pad: int = 2) -> np.ndarray:
    n = int(np.ceil(radius)) + pad
    z, y, x = np.mgrid[-n : n + 1, -n : n + 1, -n : n + 1]
    return x**2 + y**2 + z**2 <= radius**2


def ellipsoid(semi_um, voxel_size) -> np.ndarray:
    half = [int(np.ceil(s / v)) + 2 for s, v in zip(semi_um, voxel_size, strict=True)]
    z, y, x = np.meshgrid(*(np.arange(-h, h + 1) for h in half), indexing="ij")
    (sz, sy, sx), (vz, vy, vx) = semi_um, voxel_size
    return (z * vz / sz) ** 2 + (y * vy / sy) ** 2 + (x * vx / sx) ** 2 <= 1


def torus(major: float = 12, minor: float = 5) -> np.ndarray:
    n = int(major + minor) + 2
    z, y, x = np.mgrid[-minor - 2 : minor + 3, -n : n + 1, -n : n + 1]
    return (np.hypot(x, y) - major) ** 2 + z**2 <= minor**2


def voxel_volume(mask: np.ndarray, voxel_size) -> float:
    return float(mask.sum() * np.prod(voxel_size))


def assert_closed(mesh: trimesh.Trimesh) -> None:
    assert mesh.is_watertight
    assert mesh.is_winding_consistent
    assert mesh.volume > 0


def test_sphere_mesh_is_closed_with_the_voxel_volume_and_the_right_place():
    mask = ball(12)
    vs = (0.5, 0.5, 0.5)
    mesh = object_mesh(mask, voxel_size=vs, origin_index=(10, 20, 30))
    assert_closed(mesh)
    assert mesh.volume == pytest.approx(voxel_volume(mask, vs), rel=0.03)
    centre_xyz = (np.array([30, 20, 10]) + 14) * 0.5  # the mask is 29 voxels across
    np.testing.assert_allclose(mesh.bounds.mean(axis=0), centre_xyz, atol=1e-6)
    np.testing.assert_allclose(np.ptp(mesh.bounds, axis=0), 2 * 12 * 0.5, atol=0.5)
    assert mesh.metadata["downsample_factor"] == (1, 1, 1)


def test_anisotropic_ellipsoid_keeps_its_micrometre_extents_in_xyz_order():
    vs = (2.0, 0.5, 0.5)
    semi = (20.0, 6.0, 8.0)  # µm along z, y, x: elongated along z
    mask = ellipsoid(semi, vs)
    mesh = object_mesh(mask, voxel_size=vs)
    assert_closed(mesh)
    assert mesh.volume == pytest.approx(voxel_volume(mask, vs), rel=0.04)
    extent = np.ptp(mesh.bounds, axis=0)
    np.testing.assert_allclose(extent, [2 * 8.0, 2 * 6.0, 2 * 20.0], atol=2.0)
    assert np.argmax(extent) == 2  # the z axis is the mesh's third coordinate


def test_torus_mesh_has_genus_one():
    mask = torus()
    mesh = object_mesh(mask, voxel_size=(1, 1, 1))
    assert_closed(mesh)
    assert mesh.euler_number == 0  # 2 - 2 × genus
    assert mesh.volume == pytest.approx(voxel_volume(mask, (1, 1, 1)), rel=0.04)


def test_object_touching_the_crop_border_is_closed_at_half_a_voxel():
    mask = ball(10)[3:, :, :-5]  # cut on two faces of the crop
    vs = (1.0, 2.0, 0.5)
    mesh = object_mesh(mask, voxel_size=vs, origin_index=(4, 5, 6))
    assert_closed(mesh)
    # the surface closes half a voxel beyond the cut voxel centres
    assert mesh.bounds[0, 2] == pytest.approx((4 - 0.5) * 1.0)
    assert mesh.bounds[1, 0] == pytest.approx((6 + mask.shape[2] - 0.5) * 0.5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_irregular_blobs_give_watertight_meshes(seed):
    rng = np.random.default_rng(seed)
    mask = ndi.gaussian_filter(rng.random((24, 26, 28)), 2) > 0.5
    mesh = object_mesh(mask, voxel_size=(1.0, 0.7, 0.7))
    assert_closed(mesh)
    assert mesh.volume == pytest.approx(voxel_volume(mask, (1.0, 0.7, 0.7)), rel=0.05)


def test_taubin_smoothing_keeps_volume_and_closure():
    mask = torus()
    raw = object_mesh(mask, voxel_size=(1, 1, 1))
    smooth = object_mesh(mask, voxel_size=(1, 1, 1), smooth_iterations=10)
    assert_closed(smooth)
    assert smooth.volume == pytest.approx(raw.volume, rel=0.02)
    assert smooth.area < raw.area  # the staircase is gone
    assert len(smooth.faces) == len(raw.faces)


@pytest.mark.parametrize(("make", "keep"), [(lambda: ball(12), 0.25), (torus, 0.1)])
def test_simplification_keeps_the_requested_fraction_watertight(make, keep):
    mask = make()
    raw = object_mesh(mask, voxel_size=(1, 1, 1), smooth_iterations=5)
    simple = object_mesh(mask, voxel_size=(1, 1, 1), smooth_iterations=5, simplify=keep)
    assert len(simple.faces) == pytest.approx(keep * len(raw.faces), rel=0.05)
    assert simple.metadata["faces_kept"] == pytest.approx(keep, rel=0.05)
    assert_closed(simple)
    assert simple.euler_number == raw.euler_number
    assert simple.volume == pytest.approx(raw.volume, rel=0.02)


def test_decimation_that_would_open_the_mesh_keeps_more_faces_instead():
    rng = np.random.default_rng(1)
    blob = ndi.gaussian_filter(rng.random((40, 40, 40)), 3) > 0.5
    labels, _ = ndi.label(blob)
    blob = labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1  # a many-handled body
    raw = object_mesh(blob, voxel_size=(1, 1, 1), smooth_iterations=10)
    simple = object_mesh(blob, voxel_size=(1, 1, 1), smooth_iterations=10, simplify=0.03)
    # straight to 3 % this body pinches; the retries land on a closed mesh with more faces
    assert_closed(simple)
    kept = len(simple.faces) / len(raw.faces)
    assert 0.03 < kept < 0.5
    assert simple.metadata["faces_kept"] == pytest.approx(kept)


def test_large_object_is_meshed_downsampled_within_the_voxel_budget():
    mask = ball(12)  # 29³ voxels
    mesh = object_mesh(mask, voxel_size=(1, 1, 1), max_voxels=4000)
    assert mesh.metadata["downsample_factor"] == (2, 2, 2)
    assert_closed(mesh)
    # block-any grows the object by up to half a coarse voxel, never shrinks it
    fine = object_mesh(mask, voxel_size=(1, 1, 1))
    assert fine.volume < mesh.volume < 1.4 * fine.volume
    np.testing.assert_allclose(mesh.bounds.mean(axis=0), fine.bounds.mean(axis=0), atol=1.0)


def test_downsample_factor_coarsens_the_finest_axis_first_and_fits():
    assert downsample_factor((10, 10, 10), (1, 1, 1), 1000) == (1, 1, 1)
    # the fine y and x axes are coarsened first ...
    assert downsample_factor((100, 400, 400), (4.0, 1.0, 1.0), 100 * 200 * 200) == (1, 2, 2)
    # ... until the coarse voxels are about isotropic
    factor = downsample_factor((100, 400, 400), (4.0, 1.0, 1.0), 100_000)
    coarse = [-(-s // f) for s, f in zip((100, 400, 400), factor, strict=True)]
    assert np.prod(coarse) <= 100_000
    coarse_um = np.multiply(factor, (4.0, 1.0, 1.0))
    assert coarse_um.max() / coarse_um.min() <= 1.5
    mask = np.zeros((5, 4, 4), bool)
    mask[4, 3, 0] = True  # in the last, partial block along z
    sampled = sample_mask(mask, voxel_size=(1, 1, 2), max_voxels=8)
    assert sampled.factor == (3, 2, 2)
    assert sampled.mask.shape == (2, 2, 2)
    assert np.argwhere(sampled.mask).tolist() == [[1, 1, 0]]
    assert sampled.origin_um == (1.0, 0.5, 1.0)  # centre of the first 3×2×2 block
    assert sampled.voxel_size == (3.0, 2.0, 4.0)


@pytest.mark.parametrize("fmt", ["ply", "obj", "stl", "glb"])
def test_mesh_files_round_trip(tmp_path, fmt):
    mesh = object_mesh(torus(), voxel_size=(2.0, 0.5, 0.5), origin_index=(3, 4, 5))
    path = write_mesh(mesh, tmp_path / f"object_7.{fmt}")
    back = trimesh.load(path, force="mesh").apply_scale(UM_PER_UNIT[fmt])
    assert len(back.faces) == len(mesh.faces)
    assert len(back.vertices) == len(mesh.vertices)
    assert back.volume == pytest.approx(mesh.volume, rel=1e-5)
    np.testing.assert_allclose(back.bounds, mesh.bounds, atol=1e-4)


@pytest.mark.parametrize("fmt", ["ply", "obj", "stl", "glb"])
def test_scene_holds_every_object(tmp_path, fmt):
    meshes = {
        3: object_mesh(ball(6), voxel_size=(1, 1, 1)),
        5: object_mesh(torus(), voxel_size=(1, 1, 1), origin_index=(0, 0, 40)),
    }
    path = write_scene(meshes, tmp_path / f"scene.{fmt}")
    merged = trimesh.load(path, force="mesh").apply_scale(UM_PER_UNIT[fmt])
    assert len(merged.faces) == sum(len(m.faces) for m in meshes.values())
    assert merged.volume == pytest.approx(sum(m.volume for m in meshes.values()), rel=1e-5)
    if fmt == "glb":
        scene = trimesh.load(path)
        assert isinstance(scene, trimesh.Scene)
        assert sorted(scene.graph.nodes_geometry) == ["object_3", "object_5"]
        assert len(scene.geometry["object_5"].faces) == len(meshes[5].faces)


def test_bad_inputs_are_refused(tmp_path):
    with pytest.raises(InputError, match="no foreground"):
        object_mesh(np.zeros((4, 4, 4), bool), voxel_size=(1, 1, 1))
    with pytest.raises(ConfigError, match="fraction of faces"):
        object_mesh(ball(3), voxel_size=(1, 1, 1), simplify=1.5)
    with pytest.raises(ConfigError, match="voxel_size"):
        object_mesh(ball(3), voxel_size=(1, 0, 1))
    with pytest.raises(ConfigError, match="suffix"):
        write_mesh(object_mesh(ball(3), voxel_size=(1, 1, 1)), tmp_path / "a.vtk")
    with pytest.raises(InputError, match="no meshes"):
        write_scene({}, tmp_path / "scene.ply")
