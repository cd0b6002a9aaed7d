"""Surface BF1 of 3D masks: anisotropic distances, halos, exact streaming over z-slabs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from volseg.errors import InputError
from volseg.metrics import BF1Counts, surface_bf1, surface_bf1_counts, surface_halo
from volseg.metrics._reference import bf1_counts_reference


def _blobs(shape: tuple[int, int, int], seed: int, density: float = 0.35) -> np.ndarray:
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.random(shape), sigma=1.5)
    return field < np.quantile(field, density)


def _slab_counts(pred, gt, *, halo, cores, **kw):
    """Sum of the counts of z-slabs: each core extended by ``halo`` slices, clipped."""
    total = BF1Counts(0, 0, 0, 0)
    depth = pred.shape[0]
    for z0, z1 in cores:
        a, b = max(z0 - halo, 0), min(z1 + halo, depth)
        total += surface_bf1_counts(pred[a:b], gt[a:b], core=(z0 - a, z1 - a), **kw)
    return total


@pytest.mark.parametrize(
    ("voxel_size", "tolerance", "inclusive"),
    [
        ((1.0, 1.0, 1.0), 2.0, False),
        ((1.0, 1.0, 1.0), 2.0, True),
        ((0.5, 0.75, 0.75), 2.5, False),  # halo 6: thin slices
        ((2.0, 0.5, 0.5), 1.5, True),  # halo 1: thick slices, matches stay in-slice
        ((1.5, 1.0, 0.5), 3.0, True),
    ],
)
def test_slab_counts_sum_to_whole_volume_counts(voxel_size, tolerance, inclusive):
    gt = _blobs((31, 24, 27), seed=1)
    pred = ndimage.binary_dilation(np.roll(gt, 1, axis=0)) ^ _blobs((31, 24, 27), 2, 0.03)
    pred[:, :, :12] = False  # a missed region: unmatched ground truth at any tolerance here
    kw = {"voxel_size": voxel_size, "tolerance": tolerance, "inclusive": inclusive}
    whole = surface_bf1_counts(pred, gt, **kw)
    assert whole == bf1_counts_reference(
        pred, gt, voxel_size=voxel_size, tolerance=tolerance, inclusive=inclusive
    )
    assert 0 < whole.matched_pred < whole.n_pred and 0 < whole.matched_gt < whole.n_gt
    halo = surface_halo(voxel_size, tolerance)
    for cores in ([(0, 7), (7, 8), (8, 20), (20, 31)], [(z, z + 1) for z in range(31)]):
        assert _slab_counts(pred, gt, halo=halo, cores=cores, **kw) == whole
        assert _slab_counts(pred, gt, halo=halo + 3, cores=cores, **kw) == whole


def test_halo_one_slice_short_is_not_exact():
    # gt fills slices 0..9; pred is one voxel in slice 5. Whole volume: the nearest gt
    # boundary is the face at z = 9 (4 µm away), so nothing matches at tolerance 2.5 µm.
    # A slab starting 2 slices above the core sees a false gt "boundary" at z = 3 (2 µm).
    gt = np.zeros((12, 9, 9), bool)
    gt[:10] = True
    pred = np.zeros_like(gt)
    pred[5, 4, 4] = True
    kw = {"voxel_size": (1.0, 1.0, 1.0), "tolerance": 2.5}
    assert surface_halo(kw["voxel_size"], kw["tolerance"]) == 3
    whole = surface_bf1_counts(pred, gt, **kw)
    assert (whole.matched_pred, whole.n_pred) == (0, 1)
    cores = [(0, 5), (5, 12)]
    assert _slab_counts(pred, gt, halo=3, cores=cores, **kw) == whole
    short = _slab_counts(pred, gt, halo=2, cores=cores, **kw)
    assert (short.matched_pred, short.n_pred) == (1, 1)


@pytest.mark.parametrize(
    ("voxel_size", "tolerance", "halo"),
    [
        ((1.0, 0.5, 0.5), 2.0, 3),
        ((2.0, 0.5, 0.5), 1.5, 1),
        ((0.5, 1.0, 1.0), 2.0, 5),
        ((0.3, 1.0, 1.0), 0.9, 4),  # 3 * 0.3 is 0.8999999999999999 <= 0.9
        ((5.0, 1.0, 1.0), 5.0, 2),
    ],
)
def test_surface_halo_values(voxel_size, tolerance, halo):
    assert surface_halo(voxel_size, tolerance) == halo


def test_anisotropic_distance_decides_the_match():
    gt, pred = np.zeros((5, 5, 5), bool), np.zeros((5, 5, 5), bool)
    gt[2, 2, 2] = True
    pred[3, 2, 2] = True  # one z step away
    assert surface_bf1(pred, gt, voxel_size=(2.0, 0.5, 0.5), tolerance=1.9).score == 0.0
    assert surface_bf1(pred, gt, voxel_size=(2.0, 0.5, 0.5), tolerance=2.0).score == 0.0
    assert (
        surface_bf1(pred, gt, voxel_size=(2.0, 0.5, 0.5), tolerance=2.0, inclusive=True).score == 1
    )
    assert surface_bf1(pred, gt, voxel_size=(1.0, 3.0, 3.0), tolerance=1.5).score == 1.0


def test_whole_volume_conventions():
    empty, cube = np.zeros((4, 6, 6), bool), np.zeros((4, 6, 6), bool)
    cube[1:3, 1:5, 1:5] = True
    s = surface_bf1(empty, cube, tolerance=1.0)
    assert math.isnan(s.precision) and s.recall == 0.0 and math.isnan(s.score)
    full = np.ones((3, 4, 5), bool)
    c = surface_bf1_counts(full, full, tolerance=1.0)
    assert c == BF1Counts(60 - 6, 60 - 6, 60 - 6, 60 - 6)  # all but the 1 x 2 x 3 interior


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"voxel_size": (1.0, 1.0)}, "three"),
        ({"voxel_size": (1.0, 0.0, 1.0)}, "> 0"),
        ({"voxel_size": (1.0, math.nan, 1.0)}, "finite"),
        ({"tolerance": 0.0}, "tolerance"),
        ({"tolerance": 1e9}, "too many"),
        ({"core": (3, 2)}, "0 <= z0 <= z1 <= 4"),
        ({"core": (0, 5)}, "0 <= z0 <= z1 <= 4"),
        ({"core": "ab"}, "pair of ints"),
    ],
)
def test_bad_options_are_rejected(kwargs, match):
    m = np.zeros((4, 5, 5), bool)
    with pytest.raises(InputError, match=match):
        surface_bf1_counts(m, m, **{"tolerance": 1.0, **kwargs})


def test_bad_masks_are_rejected():
    with pytest.raises(InputError, match="3D mask, got 2D"):
        surface_bf1(np.zeros((4, 4), bool), np.zeros((4, 4), bool), tolerance=1.0)
    with pytest.raises(InputError, match=r"\(2, 4, 4\) vs gt \(2, 4, 5\)"):
        surface_bf1(np.zeros((2, 4, 4), bool), np.zeros((2, 4, 5), bool), tolerance=1.0)
