"""Cutting merged objects at their necks (distance-transform watershed + neck merging)."""

from __future__ import annotations

import numpy as np
import pytest

from volseg.classify import split_object

Z, Y, X = np.mgrid[0:60, 0:80, 0:80]


def ball(c, r, scale=(1.0, 1.0, 1.0)):
    return sum(((g - ci) * s) ** 2 for g, ci, s in zip((Z, Y, X), c, scale, strict=True)) <= r**2


def tube(p0, p1, r):
    """A straight tube of constant radius ``r`` between points ``p0`` and ``p1``."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    pts = np.stack([Z, Y, X], axis=-1).astype(float) - p0
    t = np.clip((pts @ d) / (d @ d), 0.0, 1.0)
    return np.linalg.norm(pts - t[..., None] * d, axis=-1) <= r


def test_a_ball_bridged_to_a_tube_is_cut_between_them():
    soma, vessel = ball((30, 30, 25), 12), tube((0, 30, 60), (59, 30, 60), 5)
    bridge = (abs(Z - 30) <= 1) & (abs(Y - 30) <= 1) & (X >= 36) & (X <= 56)
    pieces, n = split_object(soma | vessel | bridge, voxel_size=(1, 1, 1))
    assert n == 2
    # the soma is one piece and the vessel the other, apart from the bridge voxels
    in_soma = np.bincount(pieces[soma], minlength=3)
    in_vessel = np.bincount(pieces[vessel], minlength=3)
    assert in_soma.argmax() != in_vessel.argmax()
    assert in_soma.max() >= 0.99 * soma.sum() and in_vessel.max() >= 0.99 * vessel.sum()
    # pieces are numbered by their first voxel in C order
    first = [np.flatnonzero(pieces.ravel() == k)[0] for k in (1, 2)]
    assert first[0] < first[1]


def test_two_bridged_balls_are_cut():
    a, b = ball((30, 30, 20), 10), ball((30, 30, 50), 12)
    bridge = (abs(Z - 30) <= 1) & (abs(Y - 30) <= 1) & (X > 25) & (X < 45)
    pieces, n = split_object(a | b | bridge, voxel_size=(1, 1, 1))
    assert n == 2
    assert len(np.unique(pieces[a])) == 1 and len(np.unique(pieces[b])) == 1
    assert pieces[a][0] != pieces[b][0]


@pytest.mark.parametrize(
    "shape",
    [
        "ellipsoid",
        "noisy ellipsoid",
        "oblique tube",
        "branching tube",
        "anisotropic ball",
    ],
)
def test_objects_without_a_neck_stay_whole(shape):
    voxel_size = (1.0, 1.0, 1.0)
    if shape == "ellipsoid":
        mask = ((Z - 30) / 20) ** 2 + ((Y - 40) / 10) ** 2 + ((X - 40) / 14) ** 2 <= 1
    elif shape == "noisy ellipsoid":
        mask = ((Z - 30) / 20) ** 2 + ((Y - 40) / 10) ** 2 + ((X - 40) / 14) ** 2 <= 1
        mask &= np.random.default_rng(0).random(mask.shape) > 0.03
    elif shape == "oblique tube":
        mask = tube((0, 20, 20), (59, 60, 45), 4.5)
    elif shape == "branching tube":
        mask = tube((0, 40, 40), (59, 40, 40), 5) | tube((30, 40, 40), (5, 40, 75), 3.5)
    else:  # 2 µm slices: a ball of radius 12 µm spans 12 slices
        mask = ball((30, 40, 40), 12, scale=(2.0, 1.0, 1.0))
        voxel_size = (2.0, 1.0, 1.0)
    pieces, n = split_object(mask, voxel_size=voxel_size)
    assert n == 1
    assert np.array_equal(pieces > 0, mask) and pieces.max() == 1


def test_empty_mask_has_no_pieces():
    pieces, n = split_object(np.zeros((4, 5, 6), bool), voxel_size=(1, 1, 1))
    assert n == 0 and not pieces.any()


def test_neck_ratio_decides_what_is_a_neck():
    """A fat bridge (radius 4 between balls of radius 10 and 12) is a neck at the default
    ratio only if it is thin enough: at ratio 0.3 the two stay one object."""
    a, b = ball((30, 30, 20), 10), ball((30, 30, 50), 12)
    bridge = tube((30, 30, 20), (30, 30, 50), 3)
    mask = a | b | bridge
    assert split_object(mask, voxel_size=(1, 1, 1), neck_ratio=0.6)[1] == 2
    assert split_object(mask, voxel_size=(1, 1, 1), neck_ratio=0.25)[1] == 1
