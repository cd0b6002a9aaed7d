from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from volseg.errors import CorruptInputError, InputError
from volseg.reconstruct._skeleton import Skeleton, object_skeleton
from volseg.reconstruct._swc import read_swc, soma_rooted, write_swc


def cylinder(length: int, radius: float, pad: int = 3) -> np.ndarray:
    """A cylinder along z, centred in y and x at index ``radius + 2``."""
    n = int(radius) + 2
    z, y, x = np.mgrid[0 : length + 2 * pad, -n : n + 1, -n : n + 1]
    return (x**2 + y**2 <= radius**2) & (z >= pad) & (z < length + pad)


def tube(shape, p0, p1, radius: float) -> np.ndarray:
    points = np.stack(np.indices(shape), axis=-1).astype(float)
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    t = np.clip((points - p0) @ d / (d @ d), 0, 1)
    return np.linalg.norm(points - (p0 + t[..., None] * d), axis=-1) <= radius


def y_shape() -> np.ndarray:
    shape = (60, 60, 30)
    fork = (30, 30, 15)
    return (
        tube(shape, (5, 30, 15), fork, 4)
        | tube(shape, fork, (55, 10, 15), 4)
        | tube(shape, fork, (55, 50, 15), 4)
    )


def test_cylinder_skeleton_is_its_axis():
    length, radius = 40, 5
    skeleton = object_skeleton(cylinder(length, radius), voxel_size=(1, 1, 1))
    centre = radius + 2
    np.testing.assert_allclose(skeleton.nodes[:, :2], centre)  # x, y on the axis
    # the axis runs along the third coordinate, shortened at each end by at most the radius
    assert length - 2 * radius <= skeleton.length_um <= length
    assert np.ptp(skeleton.nodes[:, 2]) == pytest.approx(skeleton.length_um)
    assert skeleton.n_branch_points == 0
    assert skeleton.n_trees == 1
    assert len(skeleton.end_points) == 2
    inner = np.abs(skeleton.nodes[:, 2] - (3 + length / 2)) < length / 2 - radius
    assert np.all(np.abs(skeleton.radii[inner] - radius) <= 1)


def test_anisotropic_voxels_give_micrometre_lengths_and_radii():
    length, radius = 30, 4  # voxels; radius 2 µm across, length 60 µm along z
    vs = (2.0, 0.5, 0.5)
    skeleton = object_skeleton(cylinder(length, radius), voxel_size=vs, origin_index=(10, 0, 0))
    np.testing.assert_allclose(skeleton.nodes[:, :2], (radius + 2) * 0.5)
    # thinning works in voxels: each end shortens by at most the radius in z voxels
    assert (length - 2 * radius) * 2.0 <= skeleton.length_um <= length * 2.0
    assert np.all(skeleton.nodes[:, 2] > (10 + 3) * 2.0)
    assert np.all(skeleton.nodes[:, 2] < (10 + 3 + length) * 2.0)
    assert np.median(skeleton.radii) == pytest.approx(radius * 0.5, abs=0.5)


def test_y_shaped_tube_has_one_branch_point_and_three_ends():
    skeleton = object_skeleton(y_shape(), voxel_size=(1, 1, 1))
    assert skeleton.n_trees == 1
    assert skeleton.n_branch_points == 1
    assert len(skeleton.end_points) == 3
    degree = np.bincount(skeleton.parents[skeleton.parents >= 0], minlength=len(skeleton))
    degree += skeleton.parents >= 0
    (fork,) = np.flatnonzero(degree >= 3)
    np.testing.assert_allclose(skeleton.nodes[fork], (15, 30, 30), atol=4)  # x, y, z


def test_closed_loop_becomes_one_tree():
    ring = (np.hypot(*np.mgrid[-20:21, -20:21]) - 14) ** 2 < 9
    skeleton = object_skeleton(np.repeat(ring[None], 5, axis=0), voxel_size=(1, 1, 1))
    assert skeleton.n_trees == 1
    assert skeleton.n_branch_points == 0
    assert len(skeleton.end_points) == 2  # the cycle is cut once
    assert skeleton.length_um == pytest.approx(2 * np.pi * 14, rel=0.1)


@pytest.mark.parametrize("seed", [0, 1])
def test_parents_precede_children_and_trees_match_pieces(seed):
    rng = np.random.default_rng(seed)
    mask = ndi.gaussian_filter(rng.random((30, 30, 30)), 2) > 0.52
    skeleton = object_skeleton(mask, voxel_size=(1.0, 0.8, 0.8))
    assert len(skeleton) > 0
    assert np.all(skeleton.parents < np.arange(len(skeleton)))
    assert skeleton.parents[0] == -1
    steps = (
        skeleton.nodes[skeleton.parents >= 0]
        - skeleton.nodes[skeleton.parents[skeleton.parents >= 0]]
    )
    # every tree edge joins 26-neighbours
    assert np.all(np.abs(steps) <= np.array([0.8, 0.8, 1.0]) + 1e-9)
    _, pieces = ndi.label(mask, structure=np.ones((3, 3, 3)))
    assert skeleton.n_trees == pieces  # thinning keeps topology: one tree per piece


def test_downsampled_skeleton_records_its_factor():
    mask = cylinder(40, 5)
    skeleton = object_skeleton(mask, voxel_size=(1, 1, 1), max_voxels=mask.size // 6)
    assert skeleton.downsample_factor == (2, 2, 2)
    assert skeleton.n_branch_points == 0
    assert 30 <= skeleton.length_um <= 42
    np.testing.assert_allclose(skeleton.nodes[:, :2], 7, atol=1.0)


def test_small_compact_piece_keeps_one_node():
    mask = np.zeros((6, 6, 6), bool)
    mask[2:4, 2:4, 2:4] = True  # thinning alone erases a 2×2×2 cube
    skeleton = object_skeleton(mask, voxel_size=(1, 1, 1))
    assert len(skeleton) == 1
    assert skeleton.n_trees == 1
    assert skeleton.radii[0] == pytest.approx(1.0)
    assert np.all((skeleton.nodes >= 2) & (skeleton.nodes <= 3))


def test_empty_mask_gives_an_empty_skeleton():
    skeleton = object_skeleton(np.zeros((5, 5, 5), bool), voxel_size=(1, 1, 1))
    assert len(skeleton) == 0
    assert skeleton.length_um == 0
    assert skeleton.n_trees == 0


def test_skeleton_refuses_children_before_parents():
    with pytest.raises(InputError, match="precede"):
        Skeleton(np.zeros((2, 3)), np.ones(2), np.array([1, -1]))


def test_swc_round_trip_of_one_object(tmp_path):
    skeleton = object_skeleton(y_shape(), voxel_size=(2.0, 0.5, 0.5), origin_index=(1, 2, 3))
    path = write_swc(
        skeleton, tmp_path / "y.swc", structure="vessel", object_id=4, comments=["source: test"]
    )
    text = path.read_text()
    assert "# source: test" in text and "# units: micrometre" in text
    assert '# Meta: {"id": 4, "units": "1 micrometer", "structure": "vessel"}' in text
    rows = [line.split() for line in text.splitlines() if not line.startswith("#")]
    assert rows[0][:2] == ["1", "7"] and rows[0][6] == "-1"
    assert {r[1] for r in rows} == {"7"}  # custom type 7: vessel
    back = read_swc(path)
    np.testing.assert_allclose(back.nodes, skeleton.nodes, atol=1e-4)
    np.testing.assert_allclose(back.radii, skeleton.radii, atol=1e-4)
    np.testing.assert_array_equal(back.parents, skeleton.parents)
    assert back.n_branch_points == skeleton.n_branch_points == 1
    assert back.length_um == pytest.approx(skeleton.length_um, rel=1e-5)


def test_a_forest_is_refused_and_split_into_trees(tmp_path):
    two = np.zeros((30, 20, 60), bool)
    two[:, 8:12, 5:9] = True
    two[5:25, 8:12, 40:44] = True
    skeleton = object_skeleton(two, voxel_size=(1, 1, 1))
    assert skeleton.n_trees == 2
    with pytest.raises(InputError, match=r"2 trees.*skeleton\.trees\(\)"):
        write_swc(skeleton, tmp_path / "two.swc")
    trees = skeleton.trees()
    assert [t.n_trees for t in trees] == [1, 1]
    assert sum(len(t) for t in trees) == len(skeleton)
    assert sum(t.length_um for t in trees) == pytest.approx(skeleton.length_um)
    assert np.all(trees[0].nodes[:, 0] < 10) and np.all(trees[1].nodes[:, 0] > 39)  # x
    for k, tree in enumerate(trees):
        back = read_swc(write_swc(tree, tmp_path / f"tree_{k}.swc"))
        np.testing.assert_array_equal(back.parents, tree.parents)
    with pytest.raises(InputError, match="one tree"):
        write_swc(Skeleton(np.zeros((0, 3)), np.zeros(0), np.zeros(0, int)), tmp_path / "e.swc")


def test_rerooting_keeps_the_tree():
    skeleton = object_skeleton(y_shape(), voxel_size=(1, 1, 1))
    middle = len(skeleton) // 2
    tree = skeleton.rerooted(middle)
    np.testing.assert_array_equal(tree.nodes[0], skeleton.nodes[middle])
    assert tree.parents[0] == -1 and tree.n_trees == 1
    assert np.all(tree.parents[1:] < np.arange(1, len(tree)))
    assert tree.length_um == pytest.approx(skeleton.length_um)
    assert tree.n_branch_points == skeleton.n_branch_points

    def edges(s: Skeleton) -> set[frozenset[tuple[float, ...]]]:
        child = np.flatnonzero(s.parents >= 0)
        pairs = zip(s.nodes[child], s.nodes[s.parents[child]], strict=True)
        return {frozenset((tuple(a), tuple(b))) for a, b in pairs}

    assert edges(tree) == edges(skeleton)
    with pytest.raises(InputError, match="re-root"):
        skeleton.rerooted(len(skeleton))


def test_a_round_soma_becomes_a_single_point_soma():
    radius = 6
    z, y, x = np.mgrid[-9:10, -9:10, -9:10]
    mask = x**2 + y**2 + (2 * z) ** 2 <= radius**2  # z voxels are 2 µm, x and y 1 µm
    skeleton = object_skeleton(mask, voxel_size=(2.0, 1.0, 1.0))
    soma = soma_rooted(skeleton)
    assert len(soma) == 1 and soma.parents.tolist() == [-1]
    np.testing.assert_allclose(soma.nodes[0], [9.0, 9.0, 18.0], atol=1.0)  # x, y, z in µm
    assert soma.radii[0] == pytest.approx(radius, abs=1.0)


def test_a_soma_with_a_process_keeps_the_process_outside_its_sphere():
    shape = (30, 30, 70)
    body = np.linalg.norm(np.indices(shape).T - np.array([15, 15, 20]), axis=-1).T <= 8
    process = tube(shape, (15, 15, 20), (15, 15, 65), 2)
    skeleton = object_skeleton(body | process, voxel_size=(1, 1, 1))
    soma = soma_rooted(skeleton)
    assert soma.n_trees == 1 and soma.parents[0] == -1
    assert soma.radii[0] == pytest.approx(8.5, abs=1)
    np.testing.assert_allclose(soma.nodes[0], [20, 15, 15], atol=1.5)  # x, y, z
    # the nodes inside the soma's sphere are gone; the process hangs from the soma
    away = np.linalg.norm(soma.nodes[1:] - soma.nodes[0], axis=1)
    assert np.all(away > soma.radii[0])
    assert soma.parents[1] == 0 and np.count_nonzero(soma.parents == 0) == 1
    assert soma.nodes[:, 0].max() == pytest.approx(skeleton.nodes[:, 0].max())
    assert soma.length_um == pytest.approx(skeleton.nodes[:, 0].max() - 20, abs=2)


def test_read_swc_refuses_a_parent_after_its_child(tmp_path):
    path = tmp_path / "bad.swc"
    path.write_text("1 0 0 0 0 1 2\n2 0 1 0 0 1 -1\n")
    with pytest.raises(CorruptInputError, match="parent 2"):
        read_swc(path)
