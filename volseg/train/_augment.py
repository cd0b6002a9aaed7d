"""Augmentation drawn anew every epoch: flips, rotations, optional intensity jitter.

Image and label are transformed together; the label is only ever resampled by nearest
neighbour, so it keeps exactly the class ids it had.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from scipy import ndimage

from volseg.errors import ConfigError, InputError

Rotation = Literal["any", "right", "none"]


@dataclass(frozen=True)
class Augmentation:
    """Random flips, rotations and intensity jitter for a training crop.

    Parameters
    ----------
    flips
        Flip left-right, and independently up-down, each with ``probability``.
    rotation
        With ``probability``, rotate by ``"any"`` angle (uniform in [0°, 360°); image
        bilinear, label nearest-neighbour, both with reflect padding at the corners that
        rotate in, shape unchanged), by a ``"right"`` angle (90°, 180° or 270°, exact;
        for a non-square input only 180° so that the shape holds), or ``"none"``.
    probability
        Probability of each flip and of the rotation, in [0, 1].
    intensity_jitter
        ``j >= 0``: when positive, every call scales the image by a gain uniform in
        ``[1 - j, 1 + j]`` and adds an offset uniform in ``[-j, j]`` (in the units of the
        image it is given, i.e. standard deviations for normalized input). 0 turns it off.

    Notes
    -----
    A call draws the same amount of randomness from ``rng`` whatever the options, in a fixed
    order, so the result is a function of the generator state alone.
    """

    flips: bool = True
    rotation: Rotation = "any"
    probability: float = 0.5
    intensity_jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.rotation not in get_args(Rotation):
            raise ConfigError(
                f"rotation must be one of {get_args(Rotation)}, got {self.rotation!r}"
            )
        if not 0.0 <= self.probability <= 1.0:
            raise ConfigError(f"augmentation probability must be in [0, 1], got {self.probability}")
        if not (np.isfinite(self.intensity_jitter) and 0.0 <= self.intensity_jitter < 1.0):
            raise ConfigError(
                f"intensity_jitter must be in [0, 1) (gain 1 ± j, offset ± j), "
                f"got {self.intensity_jitter}"
            )

    def __call__(
        self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Augment ``image`` ((H, W) or (C, H, W) float32) and ``label`` ((H, W) uint8).

        Returns
        -------
        image, label
            New contiguous arrays of the input shapes and dtypes; label values are a subset
            of the input's.

        Raises
        ------
        InputError
            Arrays of the wrong dimensions or different spatial shapes.
        """
        if image.ndim not in (2, 3) or label.ndim != 2 or image.shape[-2:] != label.shape:
            raise InputError(
                f"augmentation takes an (H, W) or (C, H, W) image with an (H, W) label; got "
                f"image {image.shape} and label {label.shape}"
            )
        u = rng.random(3)
        angle = rng.uniform(0.0, 360.0)
        quarter = int(rng.integers(1, 4))
        gain, offset = rng.uniform(-1.0, 1.0, size=2) * self.intensity_jitter
        p = self.probability

        if self.flips and u[0] < p:
            image, label = image[..., :, ::-1], label[:, ::-1]
        if self.flips and u[1] < p:
            image, label = image[..., ::-1, :], label[::-1, :]
        if self.rotation == "right" and u[2] < p:
            k = quarter if label.shape[0] == label.shape[1] else 2
            image, label = np.rot90(image, k, axes=(-2, -1)), np.rot90(label, k)
        elif self.rotation == "any" and u[2] < p:
            image = ndimage.rotate(
                image, angle, axes=(-1, -2), reshape=False, order=1, mode="reflect"
            )
            label = ndimage.rotate(
                label, angle, axes=(-1, -2), reshape=False, order=0, mode="reflect"
            )
        out = np.array(image, dtype=np.float32, order="C")
        if self.intensity_jitter > 0:
            out *= np.float32(1.0 + gain)
            out += np.float32(offset)
        return out, np.array(label, dtype=label.dtype, order="C")
