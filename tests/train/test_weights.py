"""Class frequencies (numpy and dask over a store) and class weights."""

from __future__ import annotations

import numpy as np
import pytest

from volseg.errors import ConfigError, InputError
from volseg.io import VolumeStore
from volseg.train import (
    SliceSet,
    class_frequencies,
    class_weights,
    load_store,
    store_class_frequencies,
)


def test_inverse_weights_are_inverse_frequency_with_mean_one():
    freq = np.array([0.9, 0.08, 0.02])
    w = class_weights(freq)
    assert w.dtype == np.float32
    assert float(w.mean()) == pytest.approx(1.0, rel=1e-6)
    inv = 1 / freq
    np.testing.assert_allclose(w, inv / inv.mean(), rtol=1e-6)


def test_weights_of_two_class_tomography_balance():
    w = class_weights(np.array([0.96, 0.04]))
    np.testing.assert_allclose(w, [0.08, 1.92], rtol=1e-6)


def test_absent_class_gets_weight_zero_and_others_average_one():
    w = class_weights(np.array([0.75, 0.0, 0.25]))
    np.testing.assert_allclose(w, [0.5, 0.0, 1.5], rtol=1e-6)
    m = class_weights(np.array([0.75, 0.0, 0.25]), method="median")
    np.testing.assert_allclose(m, [0.5 / 0.75, 0.0, 0.5 / 0.25], rtol=1e-6)


def test_median_frequency_balancing():
    w = class_weights(np.array([0.7, 0.2, 0.1]), method="median")
    np.testing.assert_allclose(w, [0.2 / 0.7, 1.0, 2.0], rtol=1e-6)


def test_none_gives_ones():
    w = class_weights(np.array([0.7, 0.0, 0.3]), method="none")
    assert w.dtype == np.float32 and w.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("method", ["inverse", "median", "none"])
def test_counts_and_frequencies_give_the_same_weights(method):
    counts = np.array([9000, 700, 300])
    np.testing.assert_allclose(
        class_weights(counts, method=method),
        class_weights(counts / counts.sum(), method=method),
        rtol=1e-6,
    )


@pytest.mark.parametrize("freq", [[], [0.0, 0.0], [0.5, -0.1], [[0.5, 0.5]], [np.nan, 1.0]])
def test_unusable_frequencies_are_refused(freq):
    with pytest.raises(InputError, match="class frequencies"):
        class_weights(np.array(freq))


def test_unknown_method_is_refused():
    with pytest.raises(ConfigError, match="unknown class weighting 'sqrt'"):
        class_weights(np.array([0.5, 0.5]), method="sqrt")  # type: ignore[arg-type]


def test_sliceset_frequencies_count_every_pixel():
    labels = [np.array([[0, 0, 1], [2, 0, 0]], np.uint8), np.array([[1, 1]], np.uint8)]
    images = [np.zeros(lab.shape, np.float32) for lab in labels]
    s = SliceSet(images, labels, ["a", "b"], ["bg", "x", "y", "z"], "t")
    np.testing.assert_allclose(class_frequencies(s), [4 / 8, 3 / 8, 1 / 8, 0.0])
    np.testing.assert_allclose(class_frequencies([s, s]), class_frequencies(s))


def test_sets_with_different_classes_are_refused():
    a = SliceSet([np.zeros((1, 1), np.float32)], [np.zeros((1, 1), np.uint8)], ["a"],
                 ["bg", "fg"], "a")  # fmt: skip
    b = SliceSet(a.images, a.labels, ["b"], ["bg", "soma"], "b")
    with pytest.raises(InputError, match="share one class list"):
        class_frequencies([a, b])


@pytest.mark.parametrize("slices", [None, [0, 3, 4], [2]])
def test_store_frequencies_with_dask_equal_numpy(tiny_store, slices):
    got = store_class_frequencies(tiny_store.path, slices=slices)
    selected = tiny_store.labels if slices is None else tiny_store.labels[slices]
    want = np.bincount(selected.ravel(), minlength=3) / selected.size
    assert got.dtype == np.float64 and got.shape == (3,)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)
    from_set = class_frequencies(load_store(tiny_store.path, slices=slices))
    np.testing.assert_allclose(got, from_set, rtol=0, atol=1e-15)


def test_store_frequencies_refuse_slices_outside(tiny_store):
    with pytest.raises(InputError, match="slice 7 is outside"):
        store_class_frequencies(tiny_store.path, slices=[7])


def test_store_frequencies_refuse_labels_without_class(tiny_store):
    store = VolumeStore.open(tiny_store.path, mode="r+")
    store.labels("ground_truth")[1, 0, :4] = 9
    with pytest.raises(InputError, match=r"4 voxels with label values >= 3"):
        store_class_frequencies(tiny_store.path)
