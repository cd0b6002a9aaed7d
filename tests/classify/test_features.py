"""The features that tell a blob (soma) from a tube (vessel)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from volseg.classify import FEATURES, piece_features

Z, Y, X = np.mgrid[0:64, 0:48, 0:48]
BALL = (Z - 32) ** 2 + (Y - 24) ** 2 + (X - 24) ** 2 <= 12**2
TUBE = ((Y - 24) ** 2 + (X - 24) ** 2 <= 5**2) & (Z >= 4) & (Z < 60)


def test_every_feature_is_returned_finite():
    for mask in (BALL, TUBE, np.pad(np.ones((1, 1, 1), bool), 1)):
        f = piece_features(mask, mask * 100.0, voxel_size=(1, 1, 1))
        assert list(f) == list(FEATURES)
        assert all(math.isfinite(v) for v in f.values())


def test_a_ball_and_a_tube_along_z_differ_where_they_should():
    ball = piece_features(BALL, None, voxel_size=(1, 1, 1))
    tube = piece_features(TUBE, None, voxel_size=(1, 1, 1))
    assert ball["sphericity"] == pytest.approx(1.0, abs=0.06)
    assert ball["elongation"] == pytest.approx(1.0, abs=0.05)
    assert ball["z_over_xy"] == pytest.approx(1.0, abs=0.01)
    assert ball["ball_fill"] == pytest.approx(1.0, abs=0.15)  # its own inscribed ball
    assert ball["z_area_mean_over_max"] == pytest.approx(2 / 3, abs=0.05)  # π(r² - z²)
    assert ball["z_end_area_ratio"] < 0.1
    assert tube["z_over_xy"] == pytest.approx(56 / 11, rel=0.01)
    assert tube["axis_z"] == pytest.approx(1.0, abs=1e-6)
    assert tube["ball_fill"] > 5
    assert tube["z_area_mean_over_max"] == pytest.approx(1.0)
    assert tube["z_end_area_ratio"] == pytest.approx(1.0)
    # the skeleton runs along the tube (thinning shortens the ends by up to the radius)
    assert 56 - 2 * 6 <= tube["skeleton_length_um"] <= 56
    assert tube["length_over_diameter"] > 1.5
    assert tube["radius_mean_um"] == pytest.approx(5, abs=1.0)


def test_voxel_size_scales_lengths():
    one = piece_features(TUBE, None, voxel_size=(1, 1, 1))
    two = piece_features(TUBE, None, voxel_size=(2, 1, 1))
    assert two["extent_z_um"] == 2 * one["extent_z_um"]
    assert two["volume_um3"] == 2 * one["volume_um3"]


def test_core_contrast_sees_a_dark_nucleus():
    image = np.where(BALL, 180.0, 90.0)
    nucleus = (Z - 32) ** 2 + (Y - 24) ** 2 + (X - 24) ** 2 <= 6**2
    image[nucleus] = 140.0
    f = piece_features(BALL, image, voxel_size=(1, 1, 1))
    assert f["core_contrast"] < -1.0
    assert f["intensity_mean"] == pytest.approx(image[BALL].mean())
    assert f["intensity_std"] == pytest.approx(image[BALL].std())
    uniform = piece_features(TUBE, np.where(TUBE, 170.0, 90.0), voxel_size=(1, 1, 1))
    assert uniform["core_contrast"] == 0.0 and uniform["intensity_std"] == 0.0


def test_touches_border_only_on_volume_faces():
    assert piece_features(TUBE, None, voxel_size=(1, 1, 1))["touches_border"] == 0.0
    cut = TUBE[4:]  # the tube now starts in the crop's first plane ...
    inside = ((False, False),) * 3
    assert piece_features(cut, None, voxel_size=(1, 1, 1), border=inside)["touches_border"] == 0
    on_volume = ((True, False), (False, False), (False, False))  # ... which is the volume's
    assert piece_features(cut, None, voxel_size=(1, 1, 1), border=on_volume)["touches_border"]
