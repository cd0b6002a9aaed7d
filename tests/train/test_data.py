"""Annotated slices from folders and stores, and the intensity normalization."""

from __future__ import annotations

import json

import numpy as np
import pytest

from volseg.errors import (
    ConfigError,
    IncompleteStoreError,
    InputError,
    InputNotFoundError,
    StoreNotFoundError,
)
from volseg.io import VolumeStore
from volseg.train import (
    Normalization,
    SliceSet,
    fit_normalization,
    load_folder,
    load_store,
    normalize,
)


@pytest.fixture(scope="module")
def real_train(tomography):
    return load_folder(tomography / "train")


# ------------------------------------------------------------------------------ folders
def test_real_training_folder_has_30_binary_slices(real_train, tomography):
    s = real_train
    assert len(s) == 30
    assert s.classes == ["background", "foreground"] and s.num_classes == 2
    assert s.source == str(tomography / "train")
    assert s.voxel_size is None and s.channels == 1
    assert s.shapes == [(852, 852)] * 30
    assert all(im.dtype == np.float32 and im.shape == (852, 852) for im in s.images)
    assert all(lab.dtype == np.uint8 for lab in s.labels)
    assert set(np.unique(np.concatenate([np.unique(lab) for lab in s.labels]))) == {0, 1}
    foreground = sum(int(lab.sum()) for lab in s.labels) / (30 * 852 * 852)
    assert 0.03 < foreground < 0.06
    stems = sorted(p.stem for p in (tomography / "train" / "images").glob("*.png"))
    assert sorted(s.names) == stems
    # raw intensities: 8-bit values, kept as they are
    assert s.images[0].min() >= 0 and s.images[0].max() <= 255
    assert np.array_equal(s.images[0], np.round(s.images[0]))


def test_folder_pairs_by_name_in_natural_order(tmp_path, write_folder):
    rng = np.random.default_rng(0)
    images = {f"s{i}": rng.integers(0, 256, (12, 10), dtype=np.uint8) for i in (10, 2, 1)}
    labels = {n: (im > 128).astype(np.uint8) for n, im in images.items()}
    s = load_folder(write_folder(tmp_path, images, labels))
    assert s.names == ["s1", "s2", "s10"]
    for name, image, label in zip(s.names, s.images, s.labels, strict=True):
        assert np.array_equal(image, images[name].astype(np.float32))
        assert np.array_equal(label, labels[name])


def test_folder_default_classes_name_every_label_value(tmp_path, write_folder):
    label = np.array([[0, 1], [3, 0]], np.uint8)
    s = load_folder(write_folder(tmp_path, {"a": np.zeros((2, 2), np.uint8)}, {"a": label}))
    assert s.classes == ["background", "class 1", "class 2", "class 3"]


def test_folder_tif_slices(tmp_path, write_folder):
    image = np.arange(24, dtype=np.uint16).reshape(4, 6) * 1000
    label = (image > 10000).astype(np.uint8)
    s = load_folder(write_folder(tmp_path, {"a": image}, {"a": label}, suffix=".tif"))
    assert np.array_equal(s.images[0], image.astype(np.float32))


def test_folder_without_labels_folder_names_it(tmp_path, write_folder):
    write_folder(tmp_path, {"a": np.zeros((4, 4), np.uint8)}, {})
    (tmp_path / "labels").rmdir()
    with pytest.raises(InputNotFoundError, match=r"labels does not exist"):
        load_folder(tmp_path)


def test_folder_with_unmatched_names_lists_them(tmp_path, write_folder):
    z = np.zeros((4, 4), np.uint8)
    write_folder(tmp_path, {"a": z, "b": z, "c": z}, {"a": z, "c": z, "d": z})
    with pytest.raises(InputError, match=r"images without labels .*: b;.*labels without .*: d"):
        load_folder(tmp_path)


def test_folder_image_label_size_mismatch_names_files(tmp_path, write_folder):
    write_folder(tmp_path, {"a": np.zeros((4, 6), np.uint8)}, {"a": np.zeros((4, 5), np.uint8)})
    with pytest.raises(InputError, match=r"a\.png is \(4, 6\).*labels.*a\.png are \(4, 5\)"):
        load_folder(tmp_path)


def test_folder_label_value_beyond_given_classes(tmp_path, write_folder):
    label = np.array([[0, 2]], np.uint8)
    write_folder(tmp_path, {"x": np.zeros((1, 2), np.uint8)}, {"x": label})
    with pytest.raises(InputError, match=r"labels/x has label value 2 but only 2 classes"):
        load_folder(tmp_path, classes=["bg", "fg"])
    assert load_folder(tmp_path, classes=["bg", "fg", "other"]).num_classes == 3


def test_folder_of_0_255_masks_is_refused_with_a_hint(tmp_path, write_folder):
    label = np.array([[0, 255]], np.uint8)
    write_folder(tmp_path, {"x": np.zeros((1, 2), np.uint8)}, {"x": label})
    with pytest.raises(InputError, match=r"divide by 255"):
        load_folder(tmp_path)


def test_folder_bad_classes_are_a_config_error(tmp_path, write_folder):
    z = np.zeros((2, 2), np.uint8)
    write_folder(tmp_path, {"x": z}, {"x": z})
    with pytest.raises(ConfigError, match="distinct names"):
        load_folder(tmp_path, classes=["bg", "bg"])


# ------------------------------------------------------------------------------- stores
def test_named_classes_keep_the_store_voxel_size(tiny_store):
    # the checkpoint records the voxel size of the slices training loaded; naming the
    # classes rebuilds the slice set and once dropped it
    from volseg.train import DataConfig
    from volseg.train._loop import load_slices

    names = [f"class{i}" for i in range(len(tiny_store.classes))]
    s = load_slices(DataConfig(source=str(tiny_store.path)), in_channels=1, classes=names)
    assert s.classes == names and s.voxel_size == (2.0, 0.5, 0.5)


def test_store_slices_in_the_order_asked(tiny_store):
    s = load_store(tiny_store.path, slices=[3, 0])
    assert s.names == ["tiny.zarr z=3", "tiny.zarr z=0"]
    assert s.classes == tiny_store.classes
    assert s.source == f"{tiny_store.path}/labels/ground_truth"
    assert s.voxel_size == (2.0, 0.5, 0.5)
    for got, z in zip(s.images, (3, 0), strict=True):
        assert got.dtype == np.float32 and np.array_equal(got, tiny_store.image[z])
    for got, z in zip(s.labels, (3, 0), strict=True):
        assert got.dtype == np.uint8 and np.array_equal(got, tiny_store.labels[z])


def test_store_all_slices_by_default(tiny_store):
    s = load_store(tiny_store.path)
    assert len(s) == 5
    assert np.array_equal(np.stack(s.labels), tiny_store.labels)
    assert np.array_equal(np.stack(s.images), tiny_store.image.astype(np.float32))


def test_store_25d_channels_stack_neighbours_and_repeat_edges(tiny_store):
    s = load_store(tiny_store.path, slices=[0, 2, 4], channels=3)
    assert s.channels == 3
    vol = tiny_store.image.astype(np.float32)
    for image, zs in zip(s.images, ([0, 0, 1], [1, 2, 3], [3, 4, 4]), strict=True):
        assert image.shape == (3, 40, 48)
        assert np.array_equal(image, vol[zs])
    assert np.array_equal(s.labels[1], tiny_store.labels[2])
    five = load_store(tiny_store.path, slices=[1], channels=5)
    assert np.array_equal(five.images[0], vol[[0, 0, 1, 2, 3]])


@pytest.mark.parametrize("channels", [0, 2, -1])
def test_store_even_channel_count_is_refused(tiny_store, channels):
    with pytest.raises(ConfigError, match="positive odd"):
        load_store(tiny_store.path, channels=channels)


@pytest.mark.parametrize("z", [5, -1])
def test_store_slice_outside_volume_is_refused(tiny_store, z):
    with pytest.raises(InputError, match=rf"slice {z} is outside the volume's slices 0\.\.4"):
        load_store(tiny_store.path, slices=[0, z])


def test_store_missing_labels_and_incomplete_store(tiny_store):
    with pytest.raises(StoreNotFoundError, match="no labels image 'manual'"):
        load_store(tiny_store.path, labels="manual")
    VolumeStore.open(tiny_store.path, mode="r+").update_meta(complete=False)
    with pytest.raises(IncompleteStoreError):
        load_store(tiny_store.path)


# ------------------------------------------------------------------------------ SliceSet
def test_sliceset_refuses_label_values_without_class():
    with pytest.raises(InputError, match=r"slice a has label value 2 but only 2 classes"):
        SliceSet(
            images=[np.zeros((2, 2), np.float32)],
            labels=[np.full((2, 2), 2, np.uint8)],
            names=["a"],
            classes=["bg", "fg"],
            source="test",
        )


def test_sliceset_refuses_image_label_shape_mismatch():
    with pytest.raises(InputError, match="same size"):
        SliceSet([np.zeros((2, 3), np.float32)], [np.zeros((2, 2), np.uint8)], ["a"],
                 ["bg", "fg"], "test")  # fmt: skip


# ------------------------------------------------------------------------- normalization
def test_fit_normalization_is_float64_mean_and_std_over_all_pixels():
    rng = np.random.default_rng(1)
    images = [rng.normal(1000, 3, (50, 40)).astype(np.float32) for _ in range(3)]
    sets = [
        SliceSet(images[:2], [np.zeros((50, 40), np.uint8)] * 2, ["a", "b"], ["x", "y"], "s1"),
        SliceSet(images[2:], [np.zeros((50, 40), np.uint8)], ["c"], ["x", "y"], "s2"),
    ]
    norm = fit_normalization(sets)
    every = np.concatenate([im.astype(np.float64).ravel() for im in images])
    assert norm.mean == pytest.approx(every.mean(), rel=1e-12)
    assert norm.std == pytest.approx(every.std(), rel=1e-9)
    out = normalize(np.concatenate(images), norm)
    assert out.dtype == np.float32
    assert abs(float(out.mean())) < 1e-4 and float(out.std()) == pytest.approx(1.0, rel=1e-4)


def test_normalization_json_round_trip():
    norm = Normalization(mean=128.39525763737353, std=13.040934795922842)
    assert Normalization.from_dict(json.loads(json.dumps(norm.to_dict()))) == norm


@pytest.mark.parametrize(
    ("mean", "std"), [(0.0, 0.0), (0.0, -1.0), (float("nan"), 1.0), (0.0, float("inf"))]
)
def test_normalization_refuses_unusable_values(mean, std):
    with pytest.raises(ConfigError, match="positive std"):
        Normalization(mean=mean, std=std)


def test_normalization_from_incomplete_record():
    with pytest.raises(ConfigError, match="'mean' and 'std'"):
        Normalization.from_dict({"mean": 1.0})


def test_fit_normalization_on_constant_images_is_refused():
    s = SliceSet([np.full((3, 3), 7, np.float32)], [np.zeros((3, 3), np.uint8)], ["a"],
                 ["bg", "fg"], "flat")  # fmt: skip
    with pytest.raises(InputError, match="no contrast"):
        fit_normalization(s)
