"""Property tests: the numba kernels equal the plain numpy/scipy reference exactly."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from volseg.metrics import bf1_counts, boundary, confusion_matrix, surface_bf1_counts
from volseg.metrics._reference import (
    bf1_counts_reference,
    boundary_reference,
    confusion_matrix_reference,
)

SETTINGS = settings(max_examples=200, deadline=None)
TOLERANCES = st.sampled_from([0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 2**0.5, 5**0.5, 4.0])
# voxel sizes exact in binary, so the distance comparisons are exact on both sides
VOXEL_SIZES = st.tuples(*[st.sampled_from([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0])] * 3)


def _mask(seed: int, shape: tuple[int, ...], density: float, blobby: bool) -> np.ndarray:
    """Random mask: salt-and-pepper, or smoothed into blobs (long straight-ish boundaries)."""
    rng = np.random.default_rng(seed)
    if not blobby:
        return rng.random(shape) < density
    field = ndimage.uniform_filter(rng.random(shape), size=3, mode="nearest")
    return field < np.quantile(field, density) if field.size else field.astype(bool)


@st.composite
def mask_pairs(draw: st.DrawFn, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    max_side = 40 if ndim == 2 else 14
    shape = tuple(draw(st.integers(1, max_side)) for _ in range(ndim))
    blobby = draw(st.booleans())
    gt = _mask(draw(st.integers(0, 2**32 - 1)), shape, draw(st.floats(0.0, 1.0)), blobby)
    how = draw(st.sampled_from(["independent", "shift", "dilate", "erode"]))
    if how == "independent":
        pred = _mask(draw(st.integers(0, 2**32 - 1)), shape, draw(st.floats(0.0, 1.0)), blobby)
    elif how == "shift":
        pred = np.roll(gt, draw(st.integers(-3, 3)), axis=draw(st.integers(0, ndim - 1)))
    elif how == "dilate":
        pred = ndimage.binary_dilation(gt)
    else:
        pred = ndimage.binary_erosion(gt)
    return pred, gt


@SETTINGS
@given(pair=mask_pairs(2), tolerance=TOLERANCES, inclusive=st.booleans())
def test_bf1_counts_equal_distance_transform_reference(pair, tolerance, inclusive):
    pred, gt = pair
    got = bf1_counts(pred, gt, tolerance=tolerance, inclusive=inclusive)
    assert got == bf1_counts_reference(pred, gt, tolerance=tolerance, inclusive=inclusive)


@SETTINGS
@given(
    pair=mask_pairs(3),
    tolerance=TOLERANCES,
    inclusive=st.booleans(),
    vs=VOXEL_SIZES,
    data=st.data(),
)
def test_surface_counts_equal_distance_transform_reference(pair, tolerance, inclusive, vs, data):
    pred, gt = pair
    depth = pred.shape[0]
    z0 = data.draw(st.integers(0, depth))
    core = data.draw(st.sampled_from([None, (z0, data.draw(st.integers(z0, depth)))]))
    got = surface_bf1_counts(
        pred, gt, voxel_size=vs, tolerance=tolerance, inclusive=inclusive, core=core
    )
    ref = bf1_counts_reference(
        pred, gt, tolerance=tolerance, inclusive=inclusive, voxel_size=vs, core=core
    )
    assert got == ref


@SETTINGS
@given(pair=st.one_of(mask_pairs(2), mask_pairs(3)))
def test_boundary_equals_scipy_erosion(pair):
    for m in pair:
        assert np.array_equal(boundary(m), boundary_reference(m))


@SETTINGS
@given(
    shape=st.tuples(st.integers(0, 30), st.integers(1, 30)),
    num_classes=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_confusion_matrix_equals_bincount(shape, num_classes, seed):
    rng = np.random.default_rng(seed)
    pred = rng.integers(0, num_classes, size=shape, dtype=np.uint8)
    gt = rng.integers(0, num_classes, size=shape, dtype=np.uint8)
    expected = confusion_matrix_reference(pred, gt, num_classes)
    assert np.array_equal(confusion_matrix(pred, gt, num_classes), expected)
