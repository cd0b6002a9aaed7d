"""Inner boundary of 2D and 3D masks."""

from __future__ import annotations

import numpy as np
import pytest

from volseg.errors import InputError
from volseg.metrics import boundary
from volseg.metrics._reference import boundary_reference


def test_square_boundary_by_hand():
    m = np.zeros((5, 6), bool)
    m[1:4, 1:5] = True
    expected = m.copy()
    expected[2, 2:4] = False
    assert np.array_equal(boundary(m), expected)


def test_object_on_the_image_edge_has_boundary_along_the_edge():
    m = np.zeros((6, 6), bool)
    m[:3, :] = True  # touches top, left and right edges
    b = boundary(m)
    assert b[0].all() and b[2].all()
    assert b[1].tolist() == [True, False, False, False, False, True]


def test_full_mask_boundary_is_the_outer_ring():
    b = boundary(np.ones((4, 5), bool))
    assert b.sum() == 2 * 4 + 2 * 5 - 4
    assert not b[1:-1, 1:-1].any()


@pytest.mark.parametrize(
    "mask",
    [
        np.eye(7, dtype=bool),  # diagonal 1-px line
        np.pad(np.ones((1, 9), bool), 2),  # horizontal 1-px line
        np.pad(np.ones((1, 1), bool), 3),  # single pixel
        np.ones((1, 50), bool),
        np.ones((50, 1), bool),
    ],
)
def test_thin_structures_are_all_boundary(mask):
    assert np.array_equal(boundary(mask), mask)


def test_empty_mask_has_no_boundary():
    assert not boundary(np.zeros((3, 4), bool)).any()
    assert boundary(np.zeros((0, 4), bool)).shape == (0, 4)


def test_3d_cube_uses_the_six_connected_cross():
    m = np.zeros((5, 5, 5), bool)
    m[1:4, 1:4, 1:4] = True
    b = boundary(m)
    assert b.sum() == 27 - 1 and not b[2, 2, 2]
    # a voxel whose only background neighbours are diagonal is not boundary
    m2 = np.ones((3, 3, 3), bool)
    m2[0, 0, 0] = False
    assert not boundary(np.pad(m2, ((1, 1), (1, 1), (1, 1)), constant_values=True))[2, 2, 2]


@pytest.mark.parametrize("shape", [(257, 130), (1, 50), (33, 1), (4, 17, 9), (1, 6, 7), (9, 1, 1)])
def test_boundary_matches_scipy_erosion(shape):
    rng = np.random.default_rng(sum(shape))
    for density in (0.2, 0.6, 0.9):
        m = rng.random(shape) < density
        assert np.array_equal(boundary(m), boundary_reference(m))


def test_numeric_masks_give_the_same_boundary():
    m = np.random.default_rng(1).random((20, 30)) < 0.7
    for dtype in (np.uint8, np.int32, np.float32):
        assert np.array_equal(boundary(m.astype(dtype)), boundary(m))


@pytest.mark.parametrize(
    ("mask", "match"),
    [
        (np.zeros(5, bool), "2D or 3D mask, got 1D"),
        (np.zeros((2, 2, 2, 2), bool), "got 4D"),
        (np.array([[0, 2], [1, 0]]), "value 2"),
        (np.array([[0, np.nan], [1, 0]]), "NaN"),
        (np.array([["a", "b"]]), "dtype <U1"),
    ],
)
def test_bad_masks_are_rejected(mask, match):
    with pytest.raises(InputError, match=match):
        boundary(mask)
