"""numba kernels against plain numpy/scipy references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from volseg.phantom import _kernels as K
from volseg.phantom._detector import stream_key
from volseg.phantom._render import gaussian_weights


@pytest.mark.parametrize("sigma", [0.6, 1.0, 1.8])
def test_separable_gaussian_matches_scipy_in_the_interior(sigma):
    rng = np.random.default_rng(0)
    img = rng.normal(size=(2, 41, 57)).astype(np.float32)
    w = gaussian_weights(sigma)
    r = len(w) // 2
    out = np.empty((2, 41 - 2 * r, 57 - 2 * r), np.float32)
    K.separable_valid(img, w, out)
    ref = ndimage.gaussian_filter(img.astype(np.float64), sigma, axes=(1, 2), truncate=r / sigma)
    np.testing.assert_allclose(out, ref[:, r:-r, r:-r], atol=1e-5)


def test_separable_filter_sums_taps_exactly():
    img = np.zeros((1, 9, 9), np.float32)
    img[0, 4, 4] = 1.0
    w = np.array([0.25, 0.5, 0.25])
    out = np.empty((1, 7, 7), np.float32)
    K.separable_valid(img, w, out)
    np.testing.assert_array_equal(out[0, 2:5, 2:5], np.outer(w, w)[::-1, ::-1].astype(np.float32))
    assert out.sum() == pytest.approx(1.0)


def test_hash_noise_is_standardized_and_uncorrelated():
    out = np.empty((4, 200, 300), np.float32)
    K.hash_normal(out, stream_key(1, 2), -3, -100, 5)
    assert abs(out.mean()) < 0.01
    assert out.std() == pytest.approx(1.0, abs=0.01)
    neighbours = np.corrcoef(out[:, :, 1:].ravel(), out[:, :, :-1].ravel())[0, 1]
    assert abs(neighbours) < 0.01
    again = np.empty((1, 10, 10), np.float32)
    K.hash_normal(again, stream_key(1, 2), -2, -90, 15)  # a sub-box: same values
    np.testing.assert_array_equal(again[0], out[1, 10:20, 10:20])
    other = np.empty_like(out)
    K.hash_normal(other, stream_key(2, 2), -3, -100, 5)
    assert abs(np.corrcoef(out.ravel(), other.ravel())[0, 1]) < 0.01


def test_hash_noise_is_close_to_gaussian():
    out = np.empty((1, 300, 300), np.float32)
    K.hash_normal(out, stream_key(3, 0), 0, 0, 0)
    v = out.astype(np.float64).ravel()
    assert abs(np.mean(v**3)) < 0.03  # symmetric
    assert np.mean(v**4) == pytest.approx(2.7, abs=0.05)  # Irwin–Hall(4): 3 - 6 / 20
    assert np.abs(v).max() <= 2 * np.sqrt(3)


def test_projection_of_a_disk_matches_its_chord_lengths():
    n, radius = 64, 20.0
    fov = np.array([(n - 1) / 2, (n - 1) / 2, n / 2])
    yy, xx = np.mgrid[:n, :n]
    disk = (((yy - fov[0]) ** 2 + (xx - fov[1]) ** 2) <= radius**2).astype(np.float32)
    n_ang, s_off = 100, n // 2 + 2
    theta = np.pi * np.arange(n_ang) / n_ang
    sino = np.zeros((n_ang, 2 * s_off + 1))
    K.forward_project(disk, 0, 0, fov, np.cos(theta), np.sin(theta), float(s_off), sino)
    s = np.arange(2 * s_off + 1) - s_off
    chord = 2 * np.sqrt(np.clip(radius**2 - s**2, 0, None))
    np.testing.assert_allclose(
        sino.mean(axis=0)[s_off - 15 : s_off + 16], chord[s_off - 15 : s_off + 16], atol=0.6
    )
