"""Every kind of store volseg writes opens in napari through napari-ome-zarr, headless: the
plugin's reader (the one ``napari --plugin napari-ome-zarr PATH`` runs) gives named layers in
micrometres, and napari's own layers accept their data and properties (1-D columns)."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import zarr
from ome_zarr_models.v05.image import Image
from ome_zarr_models.v05.image_label import ImageLabel
from pydantic.warnings import PydanticDeprecatedSince20
from scipy import ndimage

from volseg.classify import (
    CLASSIFIED,
    FEATURES,
    INSTANCES,
    classify,
    fit_classifier,
    foreground_store,
)
from volseg.io import VolumeStore, describe, ingest
from volseg.phantom import PhantomConfig, generate_phantom
from volseg.reconstruct import reconstruct_components
from volseg.segment import SegmentConfig, segment
from volseg.testing import write_labels_store, write_slices, write_tiny_checkpoint

# napari 0.9 and npe2 still use pydantic-1 idioms (json_encoders, extra Field keywords),
# deprecated in pydantic 2: at import, and when they build their models later
PYDANTIC_1 = "ignore::pydantic.warnings.PydanticDeprecatedSince20"
pytestmark = pytest.mark.filterwarnings(PYDANTIC_1)
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=PydanticDeprecatedSince20)
    napari = pytest.importorskip("napari")
    napari_io = pytest.importorskip("napari.plugins.io")
    npe2 = pytest.importorskip("npe2")

CLASSES = ["background", "soma", "vessel"]
VOXEL = (2.0, 1.0, 0.5)
#: The object properties written for every object, and for classified objects.
OBJECT_COLUMNS = ["voxels", "volume_um3", "centroid_z_um", "centroid_y_um", "centroid_x_um"]
CLASS_COLUMNS = ["class", "class_probability"]


def _blobs(shape: tuple[int, int, int] = (12, 40, 36)) -> np.ndarray:
    rng = np.random.default_rng(0)
    field = ndimage.gaussian_filter(rng.normal(size=shape), 1.5)
    classes = (field > 0.06).astype(np.uint8)
    classes[(field > 0.06) & (rng.random(shape) < 0.05)] = 2
    return classes


def _classifier() -> Any:
    """Small objects are somas, large ones vessels (features drawn at random otherwise)."""
    rng = np.random.default_rng(1)
    table = pd.DataFrame(rng.random((40, len(FEATURES))), columns=list(FEATURES))
    label = np.repeat([0, 1], 20)
    table["volume_um3"] = np.where(label == 0, 50.0, 5000.0) * rng.uniform(0.5, 2.0, 40)
    return fit_classifier(table, label, features=FEATURES, classes=("soma", "vessel"))


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, client: object) -> dict[str, Path]:
    """One small store of every kind volseg writes."""
    root = tmp_path_factory.mktemp("napari")
    phantom = generate_phantom(
        root / "phantom.zarr",
        PhantomConfig(shape=(4, 64, 64), seed=2),
        chunks=(2, 32, 32),
        levels=2,
        progress=False,
    ).path
    rng = np.random.default_rng(3)
    write_slices(root / "raw" / "images", rng.integers(0, 4000, (5, 30, 26), np.uint16), fmt="tif")
    write_slices(root / "raw" / "labels", rng.integers(0, 3, (5, 30, 26), np.uint8), fmt="png")
    ingested = ingest(
        root / "raw", root / "ingested.zarr", voxel_size=VOXEL, progress=False, num_workers=1
    ).path
    checkpoint = write_tiny_checkpoint(root / "model.pt", np.zeros((4, 64, 64), np.uint8))
    segmented = segment(
        SegmentConfig(
            volume=str(phantom),
            model=str(checkpoint),
            out=str(root / "segmented.zarr"),
            device="cpu",
            probabilities="uint8",
            uncertainty=True,
        ),
        progress=False,
        inline=True,
    ).out
    labelled = write_labels_store(
        root / "labelled.zarr", _blobs(), classes=CLASSES, voxel_size=VOXEL, levels=2
    )
    objects = reconstruct_components(labelled, root / "objects", client=client, progress=False)
    none = reconstruct_components(
        labelled, root / "none", min_voxels=10**9, client=client, progress=False
    )
    classified = classify(
        labelled, _classifier(), root / "classified", client=client, progress=False
    )
    return {
        "phantom": phantom,
        "ingest": ingested,
        "segment": Path(segmented),
        "reconstruct": objects.store,
        "no_objects": none.store,
        "classify": classified.store,
        "foreground": foreground_store(phantom, root / "foreground.zarr"),
    }


#: The layers of each kind of store, in the reader's order: (name, layer type).
EXPECTED = {
    "phantom": [(None, "image"), ("ground_truth", "labels")],
    "ingest": [(None, "image"), ("ground_truth", "labels")],
    "segment": [(None, "image"), ("segmentation", "labels")],
    "reconstruct": [(None, "image"), ("segmentation", "labels"), ("soma_objects", "labels")],
    "classify": [
        (None, "image"),
        ("segmentation", "labels"),
        (CLASSIFIED, "labels"),
        (INSTANCES, "labels"),
    ],
    "foreground": [(None, "image"), ("segmentation", "labels")],
}


def read_with_napari(path: Path) -> list[tuple[Any, dict[str, Any], str]]:
    """The layer data napari gets from ``napari --plugin napari-ome-zarr PATH``."""
    npe2.PluginManager.instance().discover()  # what napari does at start-up
    layers, _ = napari_io.read_data_with_plugins([str(path)], plugin="napari-ome-zarr")
    assert layers is not None
    return [(data, dict(meta), kind) for data, meta, kind in layers]


def build_layer(data: Any, meta: dict[str, Any], kind: str) -> Any:
    """The napari layer, as a viewer would add it (no viewer, no Qt)."""
    with warnings.catch_warnings():
        # napari-ome-zarr turns image-label colours into a dict without a default colour;
        # every label value volseg writes has its colour, so nothing is left transparent
        warnings.filterwarnings("ignore", "color_dict did not provide a default color")
        return napari.layers.Layer.create(data, meta, kind)


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_store_opens_in_napari_with_named_layers_in_micrometres(stores, kind):
    store = VolumeStore.open(stores[kind])
    group = zarr.open_group(store.path, mode="r")
    Image.from_zarr(group)  # still valid OME-Zarr 0.5
    for name in store.label_names:
        ImageLabel.from_zarr(group[f"labels/{name}"])
    layers = read_with_napari(store.path)
    assert [(meta.get("name"), t) for _, meta, t in layers] == EXPECTED[kind]
    for data, meta, layer_type in layers:
        name = meta.get("name")
        arrays = [
            store.image(k) if name is None else store.labels(name, k) for k in range(store.levels)
        ]
        assert [d.shape for d in data] == [a.shape for a in arrays]
        assert meta["scale"] == pytest.approx(store.voxel_size)
        assert meta["units"] == ("micrometer",) * 3
        assert meta["axis_labels"] == ("z", "y", "x")
        layer = build_layer(data, meta, layer_type)
        if name is not None:  # the image has none: napari names it after the file
            assert layer.name == name
        np.testing.assert_allclose(layer.scale, store.voxel_size)
        if layer_type == "labels":
            values = np.unique(np.asarray(data[0]))
            assert values.max() > 0, f"{name} holds no labels"
            assert np.array_equal(values, np.unique(arrays[0][:]))
            index = meta["properties"]["index"]
            assert set(values) - {0} <= set(index), "a label value without properties"
            assert len(layer.features) == len(index)


def test_a_store_without_objects_opens_too(stores):
    store = VolumeStore.open(stores["no_objects"])
    ImageLabel.from_zarr(zarr.open_group(store.path / "labels" / "soma_objects", mode="r"))
    layers = read_with_napari(store.path)
    assert [m.get("name") for _, m, _ in layers] == [None, "segmentation", "soma_objects"]
    data, meta, kind = layers[2]
    assert "properties" not in meta
    layer = build_layer(data, meta, kind)
    assert not np.asarray(data[0]).any() and len(layer.features) == 0


def _properties(stores: dict[str, Path], kind: str, name: str) -> dict[str, list[Any]]:
    (meta,) = [m for _, m, _ in read_with_napari(stores[kind]) if m.get("name") == name]
    return meta["properties"]


@pytest.mark.parametrize(
    ("kind", "name", "columns"),
    [
        ("reconstruct", "soma_objects", OBJECT_COLUMNS),
        ("classify", INSTANCES, OBJECT_COLUMNS + CLASS_COLUMNS),
    ],
)
def test_object_properties_are_one_row_per_object_scalar_columns(stores, kind, name, columns):
    props = _properties(stores, kind, name)
    table = pd.read_parquet(stores[kind].parent / "objects.parquet")
    assert sorted(props) == sorted([*columns, "index"])
    assert props["index"] == table["id"].tolist()
    for column in columns:
        values = np.asarray(props[column])
        assert values.shape == (len(table),), column
        if values.dtype.kind == "f":
            np.testing.assert_allclose(values, table[column].to_numpy(), rtol=1e-12)
        else:
            assert values.tolist() == table[column].tolist(), column
    ids = np.asarray(VolumeStore.open(stores[kind]).labels(name)[:])
    table = table.set_index("id")
    for i in table.index[:5]:
        zyx = np.argwhere(ids == i).mean(axis=0) * VOXEL
        np.testing.assert_allclose(
            [props[f"centroid_{a}_um"][props["index"].index(i)] for a in "zyx"], zyx
        )
    # napari's Labels layer takes them as they come (it raised on a 3-item centroid)
    layer = napari.layers.Labels(ids, properties=props)
    assert list(layer.features["index"]) == props["index"]


def test_classified_objects_carry_their_class(stores):
    props = _properties(stores, "classify", INSTANCES)
    assert set(props["class"]) <= {"soma", "vessel"}
    assert all(0.0 <= p <= 1.0 for p in props["class_probability"])
    classes = _properties(stores, "classify", CLASSIFIED)
    assert classes == {"class": ["background", "soma", "vessel"], "index": [0, 1, 2]}


def test_object_labels_keep_their_classes_in_old_stores(stores, tmp_path):
    """Stores written before the 1-D columns (a 3-item ``centroid_um``) still read."""
    store = VolumeStore.open(stores["reconstruct"])
    assert store.classes("soma_objects") == ["background"]
    zarr_json = store.path / "labels" / "soma_objects" / "zarr.json"
    meta = json.loads(zarr_json.read_text())
    old = meta["attributes"]["ome"]["image-label"]
    old["properties"] = [
        {"label-value": p["label-value"], "voxels": p["voxels"], "centroid_um": [1.0, 2.0, 3.0]}
        for p in old["properties"]
    ]
    copy = tmp_path / "old.zarr"
    shutil.copytree(store.path, copy)
    (copy / "labels" / "soma_objects" / "zarr.json").write_text(json.dumps(meta))
    old_store = VolumeStore.open(copy)
    assert old_store.classes("soma_objects") == ["background"]
    assert old_store.classes("segmentation") == CLASSES
    assert describe(copy)["labels"]["soma_objects"]["classes"] == ["background"]
