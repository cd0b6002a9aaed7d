"""Augmentation: exact flips and right-angle rotations, label-safe arbitrary rotation."""

from __future__ import annotations

import numpy as np
import pytest

from volseg.errors import ConfigError, InputError
from volseg.train import Augmentation


def _pair(shape=(40, 40), channels: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    full = (channels, *shape) if channels else shape
    image = rng.normal(size=full).astype(np.float32)
    label = rng.integers(0, 3, shape).astype(np.uint8)
    return image, label


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.mark.parametrize("channels", [0, 3])
def test_forced_flips_are_exact_flips_of_image_and_label(channels):
    image, label = _pair((30, 40), channels)
    aug = Augmentation(flips=True, rotation="none", probability=1.0)
    out, lab = aug(image, label, _rng())
    assert np.array_equal(out, np.flip(image, axis=(-2, -1)))
    assert np.array_equal(lab, np.flip(label, axis=(-2, -1)))
    assert out.flags.c_contiguous and lab.flags.c_contiguous


@pytest.mark.parametrize("channels", [0, 2])
def test_forced_right_rotation_is_an_exact_rot90(channels):
    image, label = _pair((24, 24), channels)
    aug = Augmentation(flips=False, rotation="right", probability=1.0)
    ks = set()
    for seed in range(20):
        out, lab = aug(image, label, _rng(seed))
        matches = [
            k
            for k in (1, 2, 3)
            if np.array_equal(out, np.rot90(image, k, axes=(-2, -1)))
            and np.array_equal(lab, np.rot90(label, k))
        ]
        assert len(matches) == 1
        ks.update(matches)
    assert ks == {1, 2, 3}


def test_right_rotation_of_a_non_square_crop_is_a_half_turn():
    image, label = _pair((20, 30))
    aug = Augmentation(flips=False, rotation="right", probability=1.0)
    for seed in range(6):
        out, lab = aug(image, label, _rng(seed))
        assert np.array_equal(out, np.rot90(image, 2)) and np.array_equal(lab, np.rot90(label, 2))


def test_any_rotation_keeps_label_values_and_shapes():
    image, label = _pair((37, 41), channels=2)
    label = np.where(label == 1, 5, label).astype(np.uint8)  # values {0, 2, 5}
    aug = Augmentation(flips=False, rotation="any", probability=1.0)
    for seed in range(5):
        out, lab = aug(image, label, _rng(seed))
        assert out.shape == image.shape and out.dtype == np.float32
        assert lab.shape == label.shape and lab.dtype == np.uint8
        assert set(np.unique(lab)) <= {0, 2, 5}


def test_any_rotation_keeps_a_centred_disk_and_moves_image_with_label():
    n = 129
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    label = (yy**2 + xx**2 <= 40**2).astype(np.uint8)
    # an off-centre square tells whether image and label turn together
    label[10:30, 60:70] = 2
    image = label.astype(np.float32)
    aug = Augmentation(flips=False, rotation="any", probability=1.0)
    for seed in range(5):
        out, lab = aug(image, label, _rng(seed))
        assert abs(int((lab == 1).sum()) - int((label == 1).sum())) <= 0.03 * (label == 1).sum()
        assert (lab == 2).sum() > 0.9 * (label == 2).sum()
        agree = np.mean(np.round(out) == lab)
        assert agree > 0.98
        assert not np.array_equal(lab, label)  # it did rotate


def test_same_seed_same_output_other_seed_other_output():
    image, label = _pair()
    aug = Augmentation(intensity_jitter=0.1)
    a = aug(image, label, _rng(3))
    b = aug(image, label, _rng(3))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    outs = {aug(image, label, _rng(s))[0].tobytes() for s in range(8)}
    assert len(outs) == 8


def test_probability_zero_is_identity():
    image, label = _pair(channels=3)
    out, lab = Augmentation(probability=0.0)(image, label, _rng())
    assert np.array_equal(out, image) and np.array_equal(lab, label)
    assert out is not image  # a new array: callers may modify it


def test_probability_half_applies_each_flip_about_half_the_time():
    image, label = _pair((16, 16))
    aug = Augmentation(flips=True, rotation="none", probability=0.5)
    counts = {(lr, ud): 0 for lr in (0, 1) for ud in (0, 1)}
    for seed in range(400):
        _, lab = aug(image, label, _rng(seed))
        (key,) = [
            (lr, ud)
            for lr, ud in counts
            if np.array_equal(lab, label[:: 1 - 2 * ud, :: 1 - 2 * lr])
        ]
        counts[key] += 1
    # each combination binomial(400, 1/4): mean 100, sd ~8.7
    assert all(55 < c < 145 for c in counts.values()), counts


def test_intensity_jitter_is_a_gain_and_offset_within_bounds():
    image, label = _pair()
    aug = Augmentation(flips=False, rotation="none", intensity_jitter=0.2)
    for seed in range(10):
        out, lab = aug(image, label, _rng(seed))
        gain, offset = np.polyfit(image.ravel(), out.ravel(), 1)
        assert 0.8 - 1e-5 <= gain <= 1.2 + 1e-5 and -0.2 - 1e-5 <= offset <= 0.2 + 1e-5
        np.testing.assert_allclose(out, gain * image + offset, atol=1e-5)
        assert np.array_equal(lab, label)
    off, _ = Augmentation(flips=False, rotation="none")(image, label, _rng(1))
    assert np.array_equal(off, image)  # jitter is off by default


@pytest.mark.parametrize(
    "kwargs",
    [
        {"probability": 1.5},
        {"probability": -0.1},
        {"rotation": "free"},
        {"intensity_jitter": -0.1},
        {"intensity_jitter": 1.0},
    ],
)
def test_bad_options_are_refused(kwargs):
    with pytest.raises(ConfigError):
        Augmentation(**kwargs)


def test_mismatched_image_and_label_are_refused():
    with pytest.raises(InputError, match=r"image \(10, 12\) and label \(10, 10\)"):
        Augmentation()(np.zeros((10, 12), np.float32), np.zeros((10, 10), np.uint8), _rng())
