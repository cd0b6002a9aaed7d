"""The files ``reconstruct`` writes open in the tools they are for, at their true size:
GLB in metres (Blender, web viewers), PLY/OBJ/STL headers naming µm, and SWC files that
navis and MorphIO read as one tree each, with no warning, the soma as root and the unit."""

from __future__ import annotations

import json
import struct
import warnings
from collections.abc import Iterator
from pathlib import Path

import morphio
import navis
import numpy as np
import pandas as pd
import pytest
import trimesh

from volseg.reconstruct import ReconstructResult, reconstruct
from volseg.runtime import connect
from volseg.testing import write_labels_store

VOXEL = (1.0, 0.5, 0.5)  # µm (z, y, x)
SHAPE = (40, 100, 160)  # 40 × 50 × 80 µm
SOMA, VESSEL = 1, 2
# (z, y, x) centres and radii in µm
ROUND_SOMA = ((20.0, 15.0, 15.0), 8.0)
SOMA_WITH_PROCESS = ((20.0, 35.0, 20.0), 6.0)  # and a process along x to x = 45 µm
VESSEL_BLOB = ((30.0, 42.0, 30.0), 2.5)


def _points() -> np.ndarray:
    return np.moveaxis(np.indices(SHAPE), 0, -1) * np.asarray(VOXEL)


def _ball(centre: tuple[float, ...], radius: float) -> np.ndarray:
    return np.linalg.norm(_points() - np.asarray(centre), axis=-1) <= radius


def _tube(p0: tuple[float, ...], p1: tuple[float, ...], radius: float) -> np.ndarray:
    p0_, d = np.asarray(p0), np.asarray(p1) - np.asarray(p0)
    t = np.clip((_points() - p0_) @ d / (d @ d), 0, 1)
    return np.linalg.norm(_points() - (p0_ + t[..., None] * d), axis=-1) <= radius


def classes() -> np.ndarray:
    labels = np.zeros(SHAPE, np.uint8)
    labels[_ball(*ROUND_SOMA)] = SOMA
    labels[_ball(*SOMA_WITH_PROCESS) | _tube((20, 35, 20), (20, 35, 45), 1.5)] = SOMA
    fork = (20.0, 25.0, 62.0)
    y_shape = (
        _tube((20, 10, 50), fork, 2) | _tube(fork, (20, 40, 75), 2) | _tube(fork, (8, 25, 76), 2)
    )
    labels[y_shape] = VESSEL
    labels[_ball(*VESSEL_BLOB)] = VESSEL
    return labels


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    """A real LocalCluster of 2 worker threads (in-process: quick to start)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
        handle = connect(n_workers=2, threads_per_worker=1, processes=False)
    with handle as c:
        yield c


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, client) -> dict[str, ReconstructResult]:
    root = tmp_path_factory.mktemp("tools")
    store = write_labels_store(
        root / "seg.zarr",
        classes(),
        classes=["background", "soma", "vessel"],
        voxel_size=VOXEL,
        chunks=(20, 50, 80),
    )
    return {
        name: reconstruct(
            store,
            root / name,
            classes=[name],
            formats=["ply", "obj", "stl", "glb"],
            skeletons="all",
            client=client,
            progress=False,
        )
        for name in ("soma", "vessel")
    }


def _table(run: ReconstructResult) -> pd.DataFrame:
    return pd.read_parquet(run.components.parquet).set_index("id")


def _id_at(run: ReconstructResult, centre: tuple[float, ...]) -> int:
    table = _table(run)
    centroids = table[["centroid_z_um", "centroid_y_um", "centroid_x_um"]].to_numpy()
    return int(table.index[np.argmin(np.linalg.norm(centroids - centre, axis=1))])


def _glb_json(path: Path) -> dict:
    data = path.read_bytes()
    (length,) = struct.unpack("<I", data[12:16])  # the JSON chunk follows the 12-byte header
    assert data[16:20] == b"JSON"
    return json.loads(data[20 : 20 + length])


# -- meshes ---------------------------------------------------------------------------


def test_glb_holds_metres_and_says_so(runs):
    run = runs["soma"]
    assert run.export is not None
    soma = _id_at(run, ROUND_SOMA[0])
    diameter_m = 2 * ROUND_SOMA[1] * 1e-6
    files = run.export.mesh_files[soma]
    mesh = trimesh.load(files["glb"], force="mesh")
    np.testing.assert_allclose(mesh.extents, diameter_m, atol=1e-6)  # one voxel
    centre_xyz_m = np.asarray(ROUND_SOMA[0][::-1]) * 1e-6
    np.testing.assert_allclose(mesh.bounds.mean(axis=0), centre_xyz_m, atol=0.3e-6)
    # the same vertices as the µm files, converted
    in_um = trimesh.load(files["ply"], force="mesh")
    np.testing.assert_allclose(mesh.bounds * 1e6, in_um.bounds, atol=1e-4)
    for path in (files["glb"], run.export.scene_files["glb"]):
        extras = _glb_json(path)["asset"]["extras"]
        assert extras["unit"] == "metre" and extras["source_unit"] == "micrometre"
        assert extras["scale_from_source"] == 1e-6
    scene = trimesh.load(run.export.scene_files["glb"])
    node = f"object_{soma}"
    transform, geometry = scene.graph[node]
    np.testing.assert_array_equal(transform, np.eye(4))  # no scale node: vertices in m
    np.testing.assert_allclose(scene.geometry[geometry].extents, diameter_m, atol=1e-6)
    assert scene.extents.max() < 1e-4  # the whole scene is under 100 µm across


def test_ply_obj_and_stl_name_micrometres_in_their_header(runs):
    run = runs["soma"]
    assert run.export is not None
    soma = _id_at(run, ROUND_SOMA[0])
    diameter_um = 2 * ROUND_SOMA[1]
    files = run.export.mesh_files[soma]
    for path in (files["ply"], run.export.scene_files["ply"]):
        header = path.read_bytes().split(b"end_header\n")[0].decode("ascii").splitlines()
        assert "comment units: micrometre (um)" in header
        assert header[:2] == ["ply", "format binary_little_endian 1.0"]
    for path in (files["obj"], run.export.scene_files["obj"]):
        top = path.read_text().splitlines()[:3]
        assert top[0].startswith("# volseg mesh ") and top[1] == "# units: micrometre (um)"
    for path in (files["stl"], run.export.scene_files["stl"]):
        text = path.read_bytes()[:80].decode("ascii")
        assert text.startswith("units: micrometre (um); volseg mesh ")
        assert trimesh.load(path).metadata["header"].startswith("units: micrometre")
    assert run.export.scene_files["stl"].read_bytes()[:80].rstrip().endswith(b"scene")
    for fmt in ("ply", "obj", "stl"):
        mesh = trimesh.load(files[fmt], force="mesh")
        assert mesh.is_watertight
        np.testing.assert_allclose(mesh.extents, diameter_um, atol=1.0)
    recorded = json.loads((run.components.out_dir / "export.json").read_text())
    assert recorded["mesh_units"] == {"glb": "metre", "ply, obj, stl": "micrometre"}


# -- skeletons ------------------------------------------------------------------------


def _navis(path: Path) -> navis.TreeNeuron:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        neuron = navis.read_swc(path)
    assert [str(w.message) for w in caught] == []
    return neuron


def _morphio(path: Path) -> tuple[morphio.Morphology, list[str]]:
    collector = morphio.WarningHandlerCollector()
    morphology = morphio.Morphology(str(path), warning_handler=collector)
    return morphology, [type(e.warning).__name__ for e in collector.get_all()]


def _branch_points(neuron: navis.TreeNeuron) -> int:
    return int((neuron.nodes["type"] == "branch").sum())


def _rows(path: Path) -> np.ndarray:
    return np.loadtxt(path, comments="#", ndmin=2)


def test_every_swc_file_is_one_tree_with_its_unit(runs):
    for run in runs.values():
        assert run.export is not None
        folder = run.components.out_dir / "skeletons"
        files = sorted(folder.glob("*.swc"))
        assert sorted(run.export.skeleton_files.values()) == files
        assert not (folder / "all.swc").exists()
        for path in files:
            object_id = int(path.stem.removeprefix("object_"))
            text = path.read_text()
            assert "# units: micrometre (um)" in text
            assert "# columns: n T x y z R P" in text
            assert "7 custom: vessel" in text
            rows = _rows(path)
            assert rows[0, 0] == 1 and rows[0, 6] == -1  # the root comes first
            assert np.count_nonzero(rows[:, 6] == -1) == 1
            assert np.all(rows[:, 5] > 0)  # radii
            neuron = _navis(path)
            assert len(neuron.root) == 1
            assert str(neuron.units) == "1 micrometer"
            assert neuron.id == object_id
            assert neuron.n_nodes == len(rows) > 0
        # the folder reads as one list of objects, in µm
        neurons = navis.read_swc(folder)
        assert len(neurons) == len(files) and all(len(n.root) == 1 for n in neurons)


def test_soma_files_are_rooted_at_the_soma(runs):
    run = runs["soma"]
    assert run.export is not None
    # a round soma: a single-point soma with its radius
    path = run.export.skeleton_files[_id_at(run, ROUND_SOMA[0])]
    rows = _rows(path)
    assert rows.shape == (1, 7) and rows[0, 1] == 1
    np.testing.assert_allclose(rows[0, 2:5], ROUND_SOMA[0][::-1], atol=0.6)  # x, y, z
    assert rows[0, 5] == pytest.approx(ROUND_SOMA[1], abs=0.6)
    morphology, emitted = _morphio(path)
    assert emitted == []
    assert morphology.soma.type == morphio.SomaType.SOMA_SINGLE_POINT
    assert len(morphology.root_sections) == 0
    assert _navis(path).soma == 1
    # a soma with a process: the soma, then the process (type 0: the labels cannot say
    # whether it is an axon or a dendrite)
    path = run.export.skeleton_files[_id_at(run, SOMA_WITH_PROCESS[0])]
    rows = _rows(path)
    assert rows[0, 1] == 1 and set(rows[1:, 1]) == {0}
    np.testing.assert_allclose(rows[0, 2:5], SOMA_WITH_PROCESS[0][::-1], atol=1.0)
    assert rows[0, 5] == pytest.approx(SOMA_WITH_PROCESS[1], abs=0.6)
    assert rows[:, 2].max() == pytest.approx(45, abs=2)  # reaches the process's end (x)
    morphology, emitted = _morphio(path)
    assert emitted == []
    assert morphology.soma.type == morphio.SomaType.SOMA_SINGLE_POINT
    assert [s.type for s in morphology.root_sections] == [morphio.SectionType.undefined]
    neuron = _navis(path)
    assert neuron.soma == 1 and _branch_points(neuron) == 0


def test_vessel_files_use_the_custom_vessel_type_and_skip_single_nodes(runs):
    run = runs["vessel"]
    assert run.export is not None
    table = _table(run)
    y_id, blob = _id_at(run, (20.0, 25.0, 62.0)), _id_at(run, VESSEL_BLOB[0])
    assert sorted(run.export.skeleton_files) == [y_id]  # the round blob has no centre line
    assert table.loc[blob, "skeleton_length_um"] == 0
    path = run.export.skeleton_files[y_id]
    rows = _rows(path)
    assert set(rows[:, 1]) == {7}
    neuron = _navis(path)
    assert neuron.soma is None and _branch_points(neuron) == 1
    morphology, emitted = _morphio(path)
    # MorphIO reads neurons: to it a vessel is a neuron without a soma, and it says so in
    # exactly these two warnings (a soma-less SWC is valid; navis reads it without one)
    assert sorted(emitted) == ["DisconnectedNeurite", "NoSomaFound"]
    assert len(morphology.root_sections) == 1
    assert len(morphology.sections) == 3  # trunk and two branches
    assert {s.type for s in morphology.sections} == {morphio.SectionType.custom7}
