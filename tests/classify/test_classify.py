"""``train_classifier`` and ``classify`` end to end: real phantoms, stores and LocalCluster."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr
from ome_zarr_models.v05.image import Image
from ome_zarr_models.v05.image_label import ImageLabel
from scipy import ndimage as ndi

from volseg.classify import (
    CLASSIFIED,
    FEATURES,
    INSTANCES,
    classify,
    fit_classifier,
    save_classifier,
    train_classifier,
)
from volseg.errors import (
    ClassifierError,
    IncompleteStoreError,
    InputError,
    ResumeMismatchError,
    StoreExistsError,
)
from volseg.geometry import BlockGrid
from volseg.io import VolumeStore, open_labels
from volseg.phantom import PhantomConfig, generate_phantom
from volseg.runtime import Ledger
from volseg.testing import write_labels_store

CLASSES = ["background", "soma", "vessel"]
ANNOTATED = (0, 12)


def _phantom(path: Path, seed: int) -> Path:
    config = PhantomConfig(
        shape=(24, 256, 256),
        seed=seed,
        vessel_density=150,
        soma_fraction=0.08,
        soma_median_diameter=16.0,
    )
    generate_phantom(path, config, chunks=(8, 64, 64), progress=False)
    return path


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("classify")
    return _phantom(root / "train.zarr", 3), _phantom(root / "test.zarr", 4)


@pytest.fixture(scope="module")
def trained(phantoms, client, tmp_path_factory):
    """A classifier trained on the ground-truth objects of the training phantom, annotated
    on slices 0 and 12 only."""
    train, _ = phantoms
    out = tmp_path_factory.mktemp("clf") / "oracle.vsclf"
    return train_classifier(
        train,
        train,
        out,
        labels="ground_truth",
        slices=ANNOTATED,
        client=client,
        progress=False,
    )


def _truth_class_of_objects(store: Path, truth: Path) -> tuple[np.ndarray, np.ndarray]:
    ids = open_labels(store, INSTANCES).values
    gt = open_labels(truth, "ground_truth").values
    n = int(ids.max())
    counts = np.zeros((n + 1, 3), np.int64)
    np.add.at(counts, (ids.ravel(), gt.ravel()), 1)
    return ids, counts[1:].argmax(axis=1)


def test_training_uses_only_objects_on_annotated_slices(trained, phantoms):
    train, _ = phantoms
    table = pd.read_csv(trained.table_path)
    gt = open_labels(train, "ground_truth").values
    _, n_soma = ndi.label(gt == 1, np.ones((3, 3, 3)))
    _, n_vessel = ndi.label(gt == 2, np.ones((3, 3, 3)))
    assert len(table) == trained.n_objects == n_soma + n_vessel
    # an object crossing no annotated slice is left out, never guessed
    crossing = [
        any(z0 <= s < z1 for s in ANNOTATED)
        for z0, z1 in zip(table["bbox_z0"], table["bbox_z1"], strict=True)
    ]
    assert (table["label"][~np.asarray(crossing)] == -1).all()
    assert trained.n_unannotated == int((~np.asarray(crossing)).sum()) > 0
    assert sum(trained.n_used.values()) == int((table["label"] >= 0).sum())
    assert trained.n_used["soma"] > 0 and trained.n_used["vessel"] > 0
    meta = trained.classifier.metadata
    assert meta["annotated_slices"] == list(ANNOTATED)
    assert meta["voxel_size"] == [1.0, 1.0, 1.0] and len(meta["training_data_sha256"]) == 64
    assert trained.classifier.features == FEATURES
    assert trained.classifier.classes == ("soma", "vessel")


def test_oracle_objects_get_their_true_class(trained, phantoms, client, tmp_path):
    _, test = phantoms
    result = classify(
        test, trained.path, tmp_path / "out", labels="ground_truth", client=client, progress=False
    )
    assert result.ok and result.n_split == 0
    store = VolumeStore.open(result.store)
    assert store.complete and {CLASSIFIED, INSTANCES, "ground_truth"} <= set(store.label_names)
    assert store.classes(CLASSIFIED) == CLASSES
    ids, truth = _truth_class_of_objects(result.store, test)
    table = result.table
    assert list(table["id"]) == list(range(1, len(table) + 1))
    predicted = table["class"].map({"soma": 1, "vessel": 2}).to_numpy()
    assert (predicted == truth).mean() >= 0.9
    assert ((table["class_probability"] >= 0.5) & (table["class_probability"] <= 1)).all()
    # every object voxel carries its object's class; background stays background
    classified = open_labels(result.store, CLASSIFIED).values
    assert np.array_equal(classified, np.concatenate([[0], predicted])[ids])
    gt = open_labels(test, "ground_truth").values
    assert np.array_equal(classified > 0, gt > 0)
    # the table counts what was written, and is on disk as Parquet and CSV
    assert np.array_equal(table["voxels"], np.bincount(ids.ravel())[1:])
    on_disk = pd.read_parquet(result.parquet)
    assert list(on_disk["class"]) == list(table["class"])
    assert {"class", "class_probability", *FEATURES} <= set(pd.read_csv(result.csv).columns)
    # a valid OME-Zarr 0.5 image with its label images, class names and object properties
    group = zarr.open_group(result.store, mode="r")
    image = Image.from_zarr(group)
    assert image.labels is not None
    assert set(image.labels.label_paths) == {"ground_truth", CLASSIFIED, INSTANCES}
    classes = ImageLabel.from_zarr(group[f"labels/{CLASSIFIED}"])
    names = [p.model_extra["class"] for p in classes.ome_attributes.image_label.properties]
    assert names == CLASSES
    props = ImageLabel.from_zarr(group[f"labels/{INSTANCES}"]).ome_attributes.image_label
    assert [p.label_value for p in props.properties] == table["id"].tolist()


def test_output_does_not_depend_on_blocks(trained, phantoms, client, tmp_path):
    _, test = phantoms
    runs = [
        classify(
            test,
            trained.path,
            tmp_path / name,
            labels="ground_truth",
            block_shape=block,
            client=client,
            progress=False,
        )
        for name, block in (("small", (8, 64, 64)), ("large", (16, 128, 256)))
    ]
    a, b = (open_labels(r.store, INSTANCES).values for r in runs)
    assert runs[0].summary.total > runs[1].summary.total > 1
    assert np.array_equal(a, b)
    pd.testing.assert_frame_equal(runs[0].table, runs[1].table)


def _bridge_soma_to_vessel(gt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``gt`` with a 3-voxel-wide bridge of soma voxels from the soma nearest a vessel to
    that vessel; returns the new labels and the masks of the soma and the vessel joined."""
    dist, nearest = ndi.distance_transform_edt(gt != 2, return_indices=True)
    dist[gt != 1] = np.inf
    start = np.unravel_index(np.argmin(dist), gt.shape)
    end = tuple(int(n[start]) for n in nearest)
    out = gt.copy()
    steps = int(np.ceil(np.linalg.norm(np.subtract(end, start)))) * 2 + 1
    for t in np.linspace(0, 1, steps):
        z, y, x = (round(s + t * (e - s)) for s, e in zip(start, end, strict=True))
        window = out[max(z - 1, 0) : z + 2, y - 1 : y + 2, x - 1 : x + 2]
        window[window == 0] = 1
    somas, _ = ndi.label(gt == 1, np.ones((3, 3, 3)))
    vessels, _ = ndi.label(gt == 2, np.ones((3, 3, 3)))
    return out, somas == somas[start], vessels == vessels[end]


def test_a_soma_merged_with_a_vessel_is_cut_back_into_both(trained, phantoms, client, tmp_path):
    _, test = phantoms
    truth = open_labels(test, "ground_truth").values
    merged, soma, vessel = _bridge_soma_to_vessel(truth)
    image = np.asarray(VolumeStore.open(test).image(0)[:])
    store = write_labels_store(
        tmp_path / "merged.zarr", merged, classes=CLASSES, image=image, chunks=(8, 64, 64)
    )
    kw = {"client": client, "progress": False}
    whole = classify(store, trained.path, tmp_path / "whole", split=False, **kw)
    cut = classify(store, trained.path, tmp_path / "cut", **kw)
    alone = classify(test, trained.path, tmp_path / "alone", labels="ground_truth", **kw)
    assert whole.n_split == 0 and cut.n_split == 1
    assert len(cut.table) == len(whole.table) + 1 == len(alone.table)
    # uncut, the soma and the vessel are one object with one class
    ids = open_labels(whole.store, INSTANCES).values
    assert len(np.unique(ids[soma | vessel])) == 1
    # cut, each is (but for the bridge) one piece of its own, classified as when it was
    # not merged
    ids = open_labels(cut.store, INSTANCES).values
    alone_ids = open_labels(alone.store, INSTANCES).values
    for part in (soma, vessel):
        values, counts = np.unique(ids[part], return_counts=True)
        assert counts.max() >= 0.95 * part.sum()
        piece = cut.table.set_index("id").loc[values[counts.argmax()]]
        before = alone.table.set_index("id").loc[np.unique(alone_ids[part])[0]]
        assert piece["class"] == before["class"]
    assert np.unique(ids[soma]).tolist() != np.unique(ids[vessel]).tolist()


def test_resume_rewrites_only_blocks_not_done(trained, phantoms, client, tmp_path):
    _, test = phantoms
    out, block = tmp_path / "run", (8, 64, 64)
    kw = {"labels": "ground_truth", "block_shape": block, "client": client, "progress": False}
    first = classify(test, trained.path, out, **kw)
    expected = open_labels(first.store, INSTANCES).values.copy()
    # an interrupted run: some blocks not done and their chunks lost, the store incomplete
    ledger = Ledger(first.store)
    grid = BlockGrid(expected.shape, block)
    lost = sorted(ledger.done())[::2]
    kept = sorted(ledger.done())[1]
    store = VolumeStore.open(first.store, mode="a")
    ids, classes = store.labels(INSTANCES), store.labels(CLASSIFIED)
    for block_id in lost:
        (ledger.done_dir / str(block_id)).unlink()
        ids[grid.block(block_id).box.slices] = 0
        classes[grid.block(block_id).box.slices] = 0
    sentinel = grid.block(kept).box.slices  # a done block is never written again
    ids[sentinel] = 7
    store.update_meta(complete=False)
    resumed = classify(test, trained.path, out, resume=True, **kw)
    assert resumed.ok and VolumeStore.open(resumed.store).complete
    assert resumed.summary.done == len(lost)
    assert resumed.summary.skipped == first.summary.total - len(lost)
    again = open_labels(resumed.store, INSTANCES).values
    assert (again[sentinel] == 7).all()
    again[sentinel] = expected[sentinel]
    assert np.array_equal(again, expected)
    assert np.array_equal(
        open_labels(resumed.store, CLASSIFIED).values,
        open_labels(first.store, CLASSIFIED).values,
    )


def test_resume_refuses_another_classifier(trained, phantoms, client, tmp_path):
    train, test = phantoms
    out = tmp_path / "run"
    classify(test, trained.path, out, labels="ground_truth", client=client, progress=False)
    other = train_classifier(
        train,
        train,
        tmp_path / "other.vsclf",
        labels="ground_truth",
        seed=1,
        client=client,
        progress=False,
    )
    with pytest.raises(ResumeMismatchError):
        classify(
            test, other.path, out, labels="ground_truth", client=client, resume=True, progress=False
        )
    with pytest.raises(StoreExistsError, match="--overwrite"):
        classify(test, trained.path, out, labels="ground_truth", client=client, progress=False)


def test_an_altered_classifier_file_is_refused_before_anything_is_written(
    trained, phantoms, tmp_path
):
    _, test = phantoms
    altered = tmp_path / "altered.vsclf"
    with zipfile.ZipFile(trained.path) as src, zipfile.ZipFile(altered, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith(".skops"):
                data = data[:-40] + bytes(b ^ 0xFF for b in data[-40:-39]) + data[-39:]
            dst.writestr(item, data)
    with pytest.raises(ClassifierError, match="altered"):
        classify(test, altered, tmp_path / "out", labels="ground_truth", progress=False)
    assert not (tmp_path / "out").exists()


def test_a_classifier_of_other_features_is_refused(phantoms, tmp_path):
    _, test = phantoms
    table = pd.DataFrame({"a": [1.0, 2, 3, 4, 5, 6], "b": [6.0, 5, 4, 3, 2, 1]})
    clf = fit_classifier(table, [0, 0, 0, 1, 1, 1], features=["a", "b"], classes=["soma", "vessel"])
    path = save_classifier(clf, tmp_path / "other.vsclf")
    with pytest.raises(ClassifierError, match=r"a, b|'a'"):
        classify(test, path, tmp_path / "out", labels="ground_truth", progress=False)
    assert not (tmp_path / "out").exists()


def test_labels_without_the_object_classes_are_refused(trained, tmp_path):
    labels = np.zeros((8, 32, 32), np.uint8)
    labels[2:5, 5:9, 5:9] = 1
    store = write_labels_store(
        tmp_path / "dendrites.zarr", labels, classes=["background", "dendrite"]
    )
    with pytest.raises(InputError, match="soma"):
        classify(store, trained.path, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    incomplete = write_labels_store(tmp_path / "half.zarr", labels, classes=CLASSES, complete=False)
    with pytest.raises(IncompleteStoreError):
        classify(incomplete, trained.path, tmp_path / "out", progress=False)


def test_an_empty_segmentation_gives_empty_outputs(trained, client, tmp_path):
    store = write_labels_store(
        tmp_path / "empty.zarr", np.zeros((8, 32, 32), np.uint8), classes=CLASSES
    )
    result = classify(store, trained.path, tmp_path / "out", client=client, progress=False)
    assert result.ok and len(result.table) == 0
    assert {"id", "class", "class_probability", *FEATURES} <= set(result.table.columns)
    assert VolumeStore.open(result.store).complete
    assert not open_labels(result.store, CLASSIFIED).values.any()
    assert len(pd.read_parquet(result.parquet)) == 0


def test_training_without_a_vessel_is_refused(client, tmp_path):
    labels = np.zeros((8, 48, 48), np.uint8)
    for i in range(4):
        labels[2:6, 4 + 10 * i : 9 + 10 * i, 10:15] = 1
    store = write_labels_store(tmp_path / "somas.zarr", labels, classes=CLASSES)
    with pytest.raises(ClassifierError, match="vessel"):
        train_classifier(
            store,
            store,
            tmp_path / "c.vsclf",
            labels="segmentation",
            truth_labels="segmentation",
            client=client,
            progress=False,
        )
    assert not (tmp_path / "c.vsclf").exists()


def test_a_new_classification_in_the_same_folder_uses_its_own_lookup(
    trained, phantoms, client, tmp_path
):
    """Workers cache the lookup of final ids and classes; a second run into the same
    folder on the same cluster (another classifier, same objects) must not get the first
    run's classes from that cache."""
    _, test = phantoms
    out = tmp_path / "again"
    kw = {"labels": "ground_truth", "client": client, "progress": False}
    first = classify(test, trained.path, out, **kw)
    before = open_labels(first.store, CLASSIFIED).values.copy()
    table = pd.read_csv(trained.table_path)
    used = table[table["label"] >= 0]
    flipped = fit_classifier(  # the same objects, the class names swapped
        used[list(FEATURES)],
        1 - used["label"].to_numpy(),
        features=FEATURES,
        classes=["soma", "vessel"],
        metadata={k: trained.classifier.metadata[k] for k in ("voxel_size", "min_voxels")},
    )
    second = classify(test, flipped, out, overwrite=True, **kw)
    after = open_labels(second.store, CLASSIFIED).values
    assert (second.table["class"] != first.table["class"]).mean() >= 0.9
    objects = before > 0
    assert (after[objects] != before[objects]).mean() >= 0.9
    assert np.array_equal(after > 0, objects)


def test_the_lock_is_held_from_the_store_to_its_completion(
    trained, phantoms, client, tmp_path, monkeypatch
):
    from volseg.classify import _apply
    from volseg.errors import RunLockedError
    from volseg.runtime import RunLock

    _, test = phantoms
    out = tmp_path / "run"
    kw = {"labels": "ground_truth", "client": client, "progress": False}
    measure = _apply.measure_objects
    refused: list[str] = []

    def measure_while_others_try(*args, **kwargs):
        # classified.zarr is made; a second run, replacing or resuming it, is refused
        assert (out / "classified.zarr" / "zarr.json").is_file()
        for again in ({"overwrite": True}, {"resume": True}):
            with pytest.raises(RunLockedError, match="being written by another volseg run"):
                classify(test, trained.path, out, **kw, **again)
            refused.append(next(iter(again)))
        return measure(*args, **kwargs)

    monkeypatch.setattr(_apply, "measure_objects", measure_while_others_try)
    result = classify(test, trained.path, out, **kw)
    assert refused == ["overwrite", "resume"]
    assert result.ok and VolumeStore.open(result.store).complete
    assert RunLock(result.store).holder() is None
    assert Ledger(result.store).done() == set(range(result.summary.total))
