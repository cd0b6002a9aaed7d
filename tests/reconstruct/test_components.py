"""3D connected components block by block: scipy.ndimage.label on the whole volume is the
oracle, ids included (both number objects in raster order)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import zarr
from ome_zarr_models.v05.image import Image
from ome_zarr_models.v05.image_label import ImageLabel
from scipy import ndimage

from volseg.errors import ConfigError, IncompleteStoreError, InputError, StoreExistsError
from volseg.io import VolumeStore
from volseg.reconstruct import (
    COLUMNS,
    OBJECTS_STORE,
    ComponentsResult,
    _components,
    reconstruct_components,
    resolve_components,
)
from volseg.runtime import BlockTask, RunSummary, connect
from volseg.testing import write_labels_store

CLASSES = ["background", "soma", "vessel"]
SHAPE = (23, 41, 37)  # divisible by no block shape below
CHUNKS = (4, 8, 8)
RANK = {6: 1, 18: 2, 26: 3}


def make_store(
    path: Path,
    classes: np.ndarray,
    *,
    chunks: tuple[int, ...] = CHUNKS,
    levels: int = 1,
    complete: bool = True,
) -> Path:
    return write_labels_store(
        path,
        classes,
        classes=CLASSES,
        voxel_size=(2.0, 1.0, 0.5),
        chunks=chunks,
        levels=levels,
        complete=complete,
    )


def blobs(seed: int, shape: tuple[int, ...] = SHAPE, level: float = 0.08) -> np.ndarray:
    """Random blobs of class 1 (somas) and some class 2 (vessels)."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.normal(size=shape), 1.2)
    classes = (field > level).astype(np.uint8)
    classes[(field > level) & (rng.random(shape) < 0.1)] = 2
    return classes


def objects(result: ComponentsResult) -> np.ndarray:
    return np.asarray(VolumeStore.open(result.store).labels(result.labels_name)[:])


def run(store: Path, out: Path, client: object, **kw: object) -> ComponentsResult:
    kw.setdefault("progress", False)
    return reconstruct_components(store, out, client=client, **kw)


@pytest.fixture(scope="module")
def blob_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    classes = blobs(0)
    return make_store(tmp_path_factory.mktemp("blobs") / "in.zarr", classes), classes


@pytest.mark.parametrize(
    ("connectivity", "block_shape"),
    [(6, (8, 16, 8)), (18, (8, 16, 8)), (26, (4, 8, 8)), (18, (24, 48, 40))],
)
def test_ids_equal_scipy_label_on_the_whole_volume(
    blob_store, client, tmp_path, connectivity, block_shape
):
    store, classes = blob_store
    result = run(store, tmp_path, client, connectivity=connectivity, block_shape=block_shape)
    expected, n = ndimage.label(
        classes == 1, ndimage.generate_binary_structure(3, RANK[connectivity])
    )
    assert n > 5  # the blobs are many, and cross blocks
    assert result.n_objects == n
    got = objects(result)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)
    table = pd.read_parquet(result.parquet)
    np.testing.assert_array_equal(table["id"], np.arange(1, n + 1))
    np.testing.assert_array_equal(table["voxels"], np.bincount(expected.ravel())[1:])


def _curves(shape: tuple[int, int, int]) -> np.ndarray:
    """A diagonal line of single voxels (steps of (1, 1, 1): neighbours only under
    26-connectivity, across block corners) and a helix of single voxels."""
    classes = np.zeros(shape, np.uint8)
    n = min(shape)
    classes[np.arange(n), np.arange(n), np.arange(n)] = 1
    t = np.linspace(0, 4 * np.pi, 4000)
    z = np.rint(t / t[-1] * (shape[0] - 1)).astype(int)
    y = np.rint(shape[1] / 2 + (shape[1] / 2 - 2) * np.cos(t)).astype(int)
    x = np.rint(shape[2] / 2 + (shape[2] / 2 - 2) * np.sin(t)).astype(int)
    classes[z, y, x] = 1
    return classes


@pytest.mark.parametrize("connectivity", [6, 18, 26])
def test_thin_curves_crossing_many_blocks_and_corners(client, tmp_path, connectivity):
    classes = _curves((16, 24, 24))
    store = make_store(tmp_path / "in.zarr", classes)
    result = run(store, tmp_path / "out", client, connectivity=connectivity, block_shape=CHUNKS)
    expected, n = ndimage.label(
        classes == 1, ndimage.generate_binary_structure(3, RANK[connectivity])
    )
    if connectivity == 26:
        assert n <= 2  # line and helix, each one object across many blocks
    np.testing.assert_array_equal(objects(result), expected)
    assert result.n_objects == n


def test_whole_volume_object_and_other_class_mixes(client, tmp_path):
    classes = np.ones((9, 17, 12), np.uint8)
    classes[4, 5, 6] = 2  # a vessel voxel: a hole in the soma
    store = make_store(tmp_path / "in.zarr", classes)
    result = run(store, tmp_path / "soma", client, block_shape=(4, 8, 8))
    got = objects(result)
    assert result.n_objects == 1
    np.testing.assert_array_equal(got, (classes == 1).astype(np.uint8))
    both = run(store, tmp_path / "both", client, classes=["soma", "vessel"])
    assert both.labels_name == "soma_vessel_objects"
    assert both.n_objects == 1 and objects(both).min() == 1
    table = pd.read_parquet(both.parquet)
    assert table.loc[0, "voxels"] == classes.size
    assert table.loc[0, "touches_border"]
    assert table.loc[0, "slice_span"] == 9


def test_empty_volume_gives_no_objects_and_an_empty_table(tmp_path, monkeypatch):
    """Also the default client: a LocalCluster started for the call."""
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    store = make_store(tmp_path / "in.zarr", np.zeros((5, 9, 10), np.uint8))
    result = reconstruct_components(store, tmp_path / "out", progress=False)
    assert result.n_objects == 0 and result.dtype == "uint8"
    assert not objects(result).any()
    for table in (pd.read_parquet(result.parquet), pd.read_csv(result.csv)):
        assert list(table.columns) == list(COLUMNS)
        assert len(table) == 0
    assert VolumeStore.open(result.store).complete


def test_output_does_not_depend_on_blocks_workers_or_task_order(
    blob_store, client, tmp_path, monkeypatch
):
    store, _ = blob_store
    reference = run(store, tmp_path / "ref", client, block_shape=(8, 16, 16))
    ref_labels = objects(reference)
    ref_table = pd.read_parquet(reference.parquet)
    # shuffled submission on one worker, and other block shapes
    real = _components.run_task
    shuffled: list[str] = []

    def run_shuffled(task: BlockTask, client: object = None, **kw: Any) -> RunSummary:
        blocks = list(task)
        order = np.random.default_rng(len(blocks)).permutation(len(blocks))
        summary = real(replace(task, blocks=[blocks[i] for i in order]), client, **kw)
        assert summary.results is not None
        results: list[object] = [None] * len(blocks)
        for position, i in enumerate(order):
            results[i] = summary.results[position]
        shuffled.append(task.name)
        return replace(summary, results=tuple(results))

    monkeypatch.setattr(_components, "run_task", run_shuffled)
    with connect(n_workers=1, threads_per_worker=1, processes=False) as one:
        variants = [
            run(store, tmp_path / "one", one, block_shape=(8, 16, 16)),
            run(store, tmp_path / "small", client, block_shape=(8, 8, 16)),
            run(store, tmp_path / "whole", client, block_shape=SHAPE),
        ]
    assert {"components: label", "components: merge", "components: write"} <= set(shuffled)
    for result in variants:
        np.testing.assert_array_equal(objects(result), ref_labels)
        pd.testing.assert_frame_equal(pd.read_parquet(result.parquet), ref_table, check_exact=True)


def test_store_is_valid_ome_zarr_with_linked_image_and_object_properties(client, tmp_path):
    classes = blobs(3, (10, 30, 20))
    store = make_store(tmp_path / "in.zarr", classes, levels=2)
    before = (store / "labels" / "segmentation" / "zarr.json").read_text()
    result = run(store, tmp_path / "out", client)
    assert result.store == tmp_path / "out" / OBJECTS_STORE
    group = zarr.open_group(result.store, mode="r")
    image = Image.from_zarr(group)
    assert image.labels is not None
    assert image.labels.label_paths == ["segmentation", "soma_objects"]
    ImageLabel.from_zarr(group["labels/segmentation"])
    label = ImageLabel.from_zarr(group["labels/soma_objects"])
    props = label.ome_attributes.image_label.properties
    table = pd.read_parquet(result.parquet)
    assert [p.label_value for p in props] == table["id"].tolist()
    assert props[0].model_extra["voxels"] == table.loc[0, "voxels"]
    for axis in "zyx":
        column = f"centroid_{axis}_um"
        assert [p.model_extra[column] for p in props] == pytest.approx(table[column].tolist())
    out = VolumeStore.open(result.store)
    assert out.complete
    assert out.meta["provenance"]["config"]["classes"] == ["soma"]
    np.testing.assert_array_equal(out.labels("segmentation")[:], classes)
    lab0 = np.asarray(out.labels("soma_objects")[:])
    np.testing.assert_array_equal(out.labels("soma_objects", 1)[:], lab0[::2, ::2, ::2])
    # the image is hard-linked, and the input is left as it was
    chunk = Path("0", "c", "0", "0", "0")
    assert os.stat(store / chunk).st_ino == os.stat(result.store / chunk).st_ino
    assert (store / "labels" / "segmentation" / "zarr.json").read_text() == before
    assert not (tmp_path / "out" / ".volseg-work").exists()


def test_clear_errors(client, tmp_path):
    classes = blobs(1, (6, 16, 16))
    store = make_store(tmp_path / "in.zarr", classes)
    with pytest.raises(ConfigError, match=r"no class 'axon'.*'background', 'soma', 'vessel'"):
        run(store, tmp_path / "out", client, classes=["axon"])
    with pytest.raises(ConfigError, match=r"connectivity: Input should be 6, 18 or 26"):
        run(store, tmp_path / "out", client, connectivity=8)
    half = make_store(tmp_path / "half.zarr", classes, complete=False)
    with pytest.raises(IncompleteStoreError, match="never completely written"):
        run(half, tmp_path / "out", client)
    run(store, tmp_path / "out", client)
    with pytest.raises(StoreExistsError, match="--overwrite"):
        run(store, tmp_path / "out", client)
    again = run(store, tmp_path / "out", client, overwrite=True)
    assert again.n_objects > 0


def test_union_find_numbers_components_by_key_whatever_the_pair_order():
    keys = [0, 50, 10, 40, 30, 20]
    pairs = np.array([[1, 4], [4, 2], [3, 5]])
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        lut, n = resolve_components(pairs[order][:, ::-1], keys)
        assert n == 2
        # {1, 2, 4}: key 10 -> 1; {3, 5}: key 30 -> 2
        assert lut.tolist() == [0, 1, 1, 2, 1, 2]


def test_union_find_names_bad_input_as_a_volseg_error():
    with pytest.raises(InputError, match="entry for the background"):
        resolve_components(np.empty((0, 2), np.int64), [])
    with pytest.raises(InputError, match=r"pair ids must lie in 1\.\.2"):
        resolve_components([[1, 3]], [0, 10, 20])
