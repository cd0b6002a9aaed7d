"""The object table: block-wise moments against direct whole-volume numpy, physical sizes,
and the dust and border filters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from volseg.io import VolumeStore
from volseg.reconstruct import COLUMNS, Moments, object_table, reconstruct_components
from volseg.runtime import connect
from volseg.testing import write_labels_store

VOXEL = (2.0, 1.0, 0.5)
STRUCTURE = ndimage.generate_binary_structure(3, 3)


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    """A real LocalCluster of 2 worker threads (in-process: quick to start)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
        handle = connect(n_workers=2, threads_per_worker=1, processes=False)
    with handle as c:
        yield c


def make_store(
    path: Path, classes: np.ndarray, image: np.ndarray, voxel=VOXEL, chunks=(4, 8, 8)
) -> Path:
    return write_labels_store(
        path,
        classes,
        classes=["background", "soma"],
        image=image,
        voxel_size=voxel,
        chunks=chunks,
    )


@pytest.fixture(scope="module")
def volume(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    shape = (19, 33, 29)
    classes = (ndimage.gaussian_filter(rng.normal(size=shape), 1.3) > 0.07).astype(np.uint8)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    return make_store(tmp_path_factory.mktemp("t") / "in.zarr", classes, image), classes, image


def exposed_faces(labels: np.ndarray, n: int) -> np.ndarray:
    """Faces per object and axis between an object voxel and anything else (outside = 0)."""
    padded = np.pad(labels, 1)
    core = padded[1:-1, 1:-1, 1:-1]
    faces = np.zeros((n + 1, 3))
    for axis in range(3):
        for step in (-1, 1):
            other = np.roll(padded, step, axis=axis)[1:-1, 1:-1, 1:-1]
            hit = (core > 0) & (core != other)
            faces[:, axis] += np.bincount(core[hit], minlength=n + 1)
    return faces[1:]


def test_table_matches_direct_whole_volume_measurements(volume, client, tmp_path):
    store, classes, image = volume
    result = reconstruct_components(
        store, tmp_path, client=client, block_shape=(8, 16, 8), progress=False
    )
    table = pd.read_parquet(result.parquet)
    labels, n = ndimage.label(classes == 1, STRUCTURE)
    assert list(table.columns) == list(COLUMNS) and len(table) == n > 3
    ids = np.arange(1, n + 1)
    d = np.array(VOXEL)
    counts = np.bincount(labels.ravel())[1:]
    np.testing.assert_array_equal(table["voxels"], counts)
    np.testing.assert_allclose(table["volume_um3"], counts * d.prod())
    centroids = np.array(ndimage.center_of_mass(labels > 0, labels, ids)) * d
    np.testing.assert_allclose(
        table[["centroid_z_um", "centroid_y_um", "centroid_x_um"]], centroids, rtol=1e-12
    )
    boxes = ndimage.find_objects(labels)
    starts = [[s.start for s in b] for b in boxes]
    stops = [[s.stop for s in b] for b in boxes]
    np.testing.assert_array_equal(table[["bbox_z0", "bbox_y0", "bbox_x0"]], starts)
    np.testing.assert_array_equal(table[["bbox_z1", "bbox_y1", "bbox_x1"]], stops)
    np.testing.assert_array_equal(
        table["slice_span"], np.array(stops)[:, 0] - np.array(starts)[:, 0]
    )
    np.testing.assert_allclose(
        table["mean_intensity"], ndimage.mean(image.astype(float), labels, ids), rtol=1e-12
    )
    border = np.zeros(n + 1, bool)
    for axis in range(3):
        for index in (0, -1):
            border[np.take(labels, index, axis=axis)] = True
    np.testing.assert_array_equal(table["touches_border"], border[1:])
    assert 0 < table["touches_border"].sum() < n
    faces = exposed_faces(labels, n)
    area = (faces @ np.array([d[1] * d[2], d[0] * d[2], d[0] * d[1]])) / 1.5
    np.testing.assert_allclose(table["surface_area_um2"], area, rtol=1e-12)
    volume_um3 = counts * d.prod()
    np.testing.assert_allclose(
        table["sphericity"], np.pi ** (1 / 3) * (6 * volume_um3) ** (2 / 3) / area
    )
    np.testing.assert_allclose(table["equivalent_diameter_um"], np.cbrt(6 * volume_um3 / np.pi))
    # elongation from the covariance of the voxel positions in µm, eigenvalues floored
    floor = d.min() ** 2 / 12
    for row, i in zip(table.itertuples(), ids, strict=True):
        points = np.argwhere(labels == i) * d
        eig = np.linalg.eigvalsh(np.cov(points.T, bias=True))
        expected = np.sqrt(max(eig[-1], floor) / max(eig[0], floor))
        assert row.elongation == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("voxel", [(1.0, 1.0, 1.0), (2.0, 1.0, 1.0)])
def test_sphere_surface_area_is_within_five_percent(client, tmp_path, voxel):
    radius = 20.0  # µm
    d = np.array(voxel)
    shape = tuple(int(2 * radius / v) + 4 for v in voxel)
    grid = np.indices(shape).astype(float)
    centre = (np.array(shape) - 1) / 2
    r2 = sum(((g - c) * v) ** 2 for g, c, v in zip(grid, centre, d, strict=True))
    classes = (r2 <= radius**2).astype(np.uint8)
    store = make_store(
        tmp_path / "in.zarr", classes, classes * 100, voxel=voxel, chunks=(8, 16, 16)
    )
    result = reconstruct_components(
        store, tmp_path / "out", client=client, block_shape=(16, 16, 32), progress=False
    )
    row = pd.read_parquet(result.parquet).iloc[0]
    assert result.n_objects == 1
    assert row["surface_area_um2"] == pytest.approx(4 * np.pi * radius**2, rel=0.05)
    assert row["sphericity"] == pytest.approx(1.0, abs=0.05)
    assert row["elongation"] == pytest.approx(1.0, abs=0.02)
    assert row["equivalent_diameter_um"] == pytest.approx(2 * radius, rel=0.02)
    np.testing.assert_allclose(
        row[["centroid_z_um", "centroid_y_um", "centroid_x_um"]].to_numpy(float), centre * d
    )
    assert row["mean_intensity"] == 100.0
    assert not row["touches_border"]


def test_dust_filter_relabels_in_raster_order_and_matches_the_labels(volume, client, tmp_path):
    store, classes, _ = volume
    result = reconstruct_components(
        store, tmp_path, client=client, min_voxels=20, block_shape=(8, 8, 16), progress=False
    )
    labels, n = ndimage.label(classes == 1, STRUCTURE)
    sizes = np.bincount(labels.ravel())
    big = np.isin(labels, np.flatnonzero(sizes >= 20)) & (labels > 0)
    expected, k = ndimage.label(big, STRUCTURE)
    assert 0 < k < n and result.n_objects == k and result.n_removed == n - k
    written = np.asarray(VolumeStore.open(result.store).labels(result.labels_name)[:])
    np.testing.assert_array_equal(written, expected)
    table = pd.read_parquet(result.parquet)
    np.testing.assert_array_equal(table["id"], np.arange(1, k + 1))
    np.testing.assert_array_equal(table["voxels"], np.bincount(written.ravel())[1:])
    assert table["voxels"].min() >= 20
    csv = pd.read_csv(result.csv)
    pd.testing.assert_frame_equal(csv, table, check_dtype=False)


def test_border_drop_keeps_only_inner_objects(volume, client, tmp_path):
    store, classes, _ = volume
    result = reconstruct_components(store, tmp_path, client=client, border="drop", progress=False)
    labels, n = ndimage.label(classes == 1, STRUCTURE)
    outer = np.unique(
        np.concatenate(
            [labels[[0, -1]].ravel(), labels[:, [0, -1]].ravel(), labels[:, :, [0, -1]].ravel()]
        )
    )
    inner = np.isin(labels, outer, invert=True)
    expected, k = ndimage.label(inner, STRUCTURE)
    written = np.asarray(VolumeStore.open(result.store).labels(result.labels_name)[:])
    np.testing.assert_array_equal(written, expected)
    table = pd.read_parquet(result.parquet)
    assert len(table) == k == result.n_objects > 0
    assert result.n_removed == np.count_nonzero(outer) == n - k > 0
    assert not table["touches_border"].any()
    np.testing.assert_array_equal(table["voxels"], np.bincount(written.ravel())[1:])


def _moments(points: np.ndarray, shape=(50, 50, 50)) -> Moments:
    """Moments of one object from its voxel indices, by brute force."""
    mask = np.zeros(shape, bool)
    mask[tuple(points.T)] = True
    faces = exposed_faces(mask.astype(np.int64), 1)[0]
    p = points.astype(float)
    sums = [len(p), *p.sum(0)]
    sums += [(p[:, i] * p[:, j]).sum() for i, j in ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))]
    sums += [0.0, *faces]
    return Moments(np.array([sums]), points.min(0)[None], points.max(0)[None] + 1)


def test_single_voxels_and_flat_objects_stay_finite():
    voxel = np.array([[10, 10, 10]])
    rod = np.array([[10, 10, x] for x in range(10, 20)])
    table = object_table(
        Moments.concat([_moments(voxel), _moments(rod)]),
        voxel_size=(1.0, 1.0, 1.0),
        shape=(50,) * 3,
    )
    single, line = table.iloc[0], table.iloc[1]
    assert single["elongation"] == 1.0
    assert single["surface_area_um2"] == pytest.approx(6 / 1.5)
    # sphericity is reported as computed: a lone voxel's exceeds 1
    assert single["sphericity"] == pytest.approx(np.pi ** (1 / 3) * 6 ** (2 / 3) / 4)
    assert single["sphericity"] > 1
    assert single["equivalent_diameter_um"] == pytest.approx(np.cbrt(6 / np.pi))
    # a 1-voxel-thick rod: variance (100 - 1) / 12 along x over the floor 1/12
    assert line["elongation"] == pytest.approx(np.sqrt(99.0))
    assert line["slice_span"] == 1 and line["bbox_x1"] == 20
    empty = object_table(Moments.empty(), voxel_size=(1.0, 1.0, 1.0), shape=(5, 5, 5))
    assert list(empty.columns) == list(COLUMNS) and len(empty) == 0
    assert empty["touches_border"].dtype == bool and empty["voxels"].dtype == np.int64
