from __future__ import annotations

import numpy as np
import pytest
import tifffile
import zarr
from ome_zarr_models.v05.image import Image as OmeImage
from PIL import Image

from volseg.errors import (
    ConfigError,
    CorruptInputError,
    IncompleteStoreError,
    InputError,
    InputNotFoundError,
    StoreExistsError,
)
from volseg.io import VolumeStore, ingest, open_labels, open_volume
from volseg.testing import truncate_file, write_slices


def _volume(shape=(12, 40, 33), dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.normal(size=shape).astype(dtype)
    return rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


@pytest.mark.parametrize(
    ("fmt", "dtype"),
    [("png", np.uint8), ("png", np.uint16), ("tif", np.uint16), ("tif", np.float32)],
)
def test_slice_folder_round_trip_keeps_dtype_and_natural_order(tmp_path, fmt, dtype):
    vol = _volume(dtype=dtype)
    write_slices(tmp_path / "slices", vol, fmt=fmt)  # slice_2 ... slice_10: natural order only
    store = ingest(tmp_path / "slices", tmp_path / "v.zarr", chunks=(5, 16, 16), progress=False)
    out = open_volume(store.path)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.values, vol)
    assert store.image(0).chunks == (5, 16, 16)


def test_multipage_tiff_npy_and_zarr_sources(tmp_path):
    vol = _volume(dtype=np.uint16)
    tifffile.imwrite(tmp_path / "stack.tif", vol)
    np.save(tmp_path / "stack.npy", vol)
    zarr.save_array(tmp_path / "stack.zarr", vol)
    for src in ("stack.tif", "stack.npy", "stack.zarr"):
        store = ingest(tmp_path / src, tmp_path / f"out_{src}.zarr", progress=False)
        np.testing.assert_array_equal(open_volume(store.path).values, vol)
        assert store.meta["provenance"]["inputs"][0]["kind"] in ("multipage-tiff", "npy", "zarr")
    digests = {
        VolumeStore.open(tmp_path / f"out_{s}.zarr").meta["provenance"]["inputs"][0]["sha256"]
        for s in ("stack.tif", "stack.npy", "stack.zarr")
    }
    assert len(digests) == 1  # identity is of the voxels, whatever the container


def test_grey_rgb_becomes_grey_and_true_colour_is_refused(tmp_path):
    vol = _volume(shape=(3, 20, 20))
    rgb = np.repeat(vol[..., None], 3, axis=-1)
    write_slices(tmp_path / "grey_rgb", rgb)
    store = ingest(tmp_path / "grey_rgb", tmp_path / "a.zarr", progress=False)
    np.testing.assert_array_equal(open_volume(store.path).values, vol)
    rgb[1, 5, 5, 0] ^= 0xFF
    write_slices(tmp_path / "colour", rgb)
    with pytest.raises(InputError, match=r"slice_1\.png is a true-colour image"):
        ingest(tmp_path / "colour", tmp_path / "b.zarr", progress=False)


def test_real_tomography_ingests_as_volume_with_labels(tmp_path, tomography):
    store = ingest(
        tomography / "train",
        tmp_path / "train.zarr",
        classes=["background", "dendrite"],
        progress=False,
    )
    vol, lab = open_volume(store.path), open_labels(store.path, "ground_truth")
    assert vol.shape == lab.shape == (30, 852, 852)
    assert vol.dtype == np.uint8 and lab.dtype == np.uint8
    files = sorted((tomography / "train" / "images").glob("*.png"))
    np.testing.assert_array_equal(vol[7].values, np.asarray(Image.open(files[7])))
    label_file = tomography / "train" / "labels" / files[7].name
    np.testing.assert_array_equal(lab[7].values, np.asarray(Image.open(label_file)))
    fractions = store.label_group("ground_truth").attrs["volseg"]["class_fractions"]
    assert 0.02 < fractions["dendrite"] < 0.08
    OmeImage.from_zarr(zarr.open_group(store.path, mode="r"))


def test_default_class_names_cover_the_values_found(tmp_path):
    vol = _volume(shape=(4, 16, 16))
    write_slices(tmp_path / "img", vol)
    write_slices(tmp_path / "lab", (vol % 3).astype(np.uint8))
    store = ingest(tmp_path / "img", tmp_path / "v.zarr", labels=tmp_path / "lab", progress=False)
    assert store.classes("ground_truth") == ["background", "class 1", "class 2"]


# ------------------------------------------------------------------------- bad input
def test_mixed_slice_shapes_name_the_file(tmp_path):
    write_slices(tmp_path / "s", _volume(shape=(3, 20, 20)))
    Image.fromarray(np.zeros((21, 20), np.uint8)).save(tmp_path / "s" / "slice_1.png")
    with pytest.raises(InputError, match=r"slice_1\.png is 20 x 21 px but slice_0\.png is 20 x 20"):
        ingest(tmp_path / "s", tmp_path / "v.zarr", progress=False)
    assert not (tmp_path / "v.zarr").exists()  # refused before anything was written


def test_empty_or_missing_input_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.txt").write_text("no slices here")
    with pytest.raises(InputNotFoundError, match="holds no TIFF or PNG slices"):
        ingest(tmp_path / "empty", tmp_path / "v.zarr", progress=False)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ingest(tmp_path / "nowhere", tmp_path / "v.zarr", progress=False)


def test_unreadable_file_is_named(tmp_path):
    write_slices(tmp_path / "s", _volume(shape=(3, 20, 20)))
    (tmp_path / "s" / "slice_2.png").write_bytes(b"this is not a png")
    with pytest.raises(CorruptInputError, match=r"slice_2\.png is not a readable"):
        ingest(tmp_path / "s", tmp_path / "v.zarr", progress=False)


def test_truncated_file_fails_and_leaves_an_incomplete_store(tmp_path):
    vol = _volume(shape=(40, 64, 64))
    paths = write_slices(tmp_path / "s", vol)
    truncate_file(paths[33])  # the header survives: found only when decoding
    with pytest.raises(CorruptInputError, match=r"slice_33\.png could not be read.*truncated"):
        ingest(tmp_path / "s", tmp_path / "v.zarr", chunks=(4, 64, 64), progress=False)
    with pytest.raises(IncompleteStoreError):
        open_volume(tmp_path / "v.zarr")
    assert not VolumeStore.open(tmp_path / "v.zarr").complete


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros((2, 8, 8), np.int16), "dtype int16"),
        (np.zeros((2, 8, 8), np.float64), "dtype float64"),
        (np.zeros((2, 2, 8, 8), np.uint8), r"shape \(2, 2, 8, 8\)"),
    ],
)
def test_unsupported_arrays_are_refused(tmp_path, array, match):
    np.save(tmp_path / "a.npy", array)
    with pytest.raises(InputError, match=match):
        ingest(tmp_path / "a.npy", tmp_path / "v.zarr", progress=False)
    assert not (tmp_path / "v.zarr").exists()


def test_non_finite_voxels_are_refused_with_their_position(tmp_path):
    vol = _volume(shape=(3, 10, 10), dtype=np.float32)
    vol[2, 4, 7] = np.nan
    write_slices(tmp_path / "s", vol, fmt="tif")
    with pytest.raises(InputError, match=r"slice_2\.tif has non-finite values .* \(y=4, x=7\)"):
        ingest(tmp_path / "s", tmp_path / "v.zarr", progress=False)


def test_labels_that_do_not_match_the_images_are_refused(tmp_path):
    vol = _volume(shape=(4, 16, 16))
    write_slices(tmp_path / "img", vol)
    write_slices(tmp_path / "few", np.zeros((3, 16, 16), np.uint8))
    with pytest.raises(InputError, match=r"stack of shape \(3, 16, 16\)"):
        ingest(tmp_path / "img", tmp_path / "v.zarr", labels=tmp_path / "few", progress=False)
    write_slices(tmp_path / "renamed", np.zeros((4, 16, 16), np.uint8), prefix="mask_")
    with pytest.raises(InputError, match="same names as the image files"):
        ingest(tmp_path / "img", tmp_path / "v.zarr", labels=tmp_path / "renamed", progress=False)
    write_slices(tmp_path / "float", np.zeros((4, 16, 16), np.float32), fmt="tif")
    with pytest.raises(InputError, match="cannot ingest as labels"):
        ingest(tmp_path / "img", tmp_path / "v.zarr", labels=tmp_path / "float", progress=False)
    write_slices(tmp_path / "lab", np.full((4, 16, 16), 2, np.uint8))
    with pytest.raises(InputError, match="label value 2 but only 2 classes"):
        ingest(
            tmp_path / "img",
            tmp_path / "v.zarr",
            labels=tmp_path / "lab",
            classes=["background", "soma"],
            progress=False,
        )


def test_output_safety(tmp_path):
    write_slices(tmp_path / "s", _volume(shape=(2, 8, 8)))
    with pytest.raises(ConfigError, match="must not be the input"):
        ingest(tmp_path / "s", tmp_path / "s" / "v.zarr", progress=False)
    ingest(tmp_path / "s", tmp_path / "v.zarr", progress=False)
    with pytest.raises(StoreExistsError):
        ingest(tmp_path / "s", tmp_path / "v.zarr", progress=False)
    assert VolumeStore.open(tmp_path / "v.zarr").complete  # untouched by the refused run
