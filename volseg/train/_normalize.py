"""Input normalization: fitted on the training pixels, stored in the checkpoint, reused at
inference."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from volseg.errors import ConfigError, InputError
from volseg.train._data import SliceSet


@dataclass(frozen=True)
class Normalization:
    """Intensity normalization ``(x - mean) / std`` fitted on the training pixels.

    Stored with the model checkpoint (:meth:`to_dict`) so inference normalizes the same way.

    Raises
    ------
    ConfigError
        A non-finite mean, or a std that is not finite and positive.
    """

    mean: float
    std: float

    def __post_init__(self) -> None:
        if not np.isfinite(self.mean) or not (np.isfinite(self.std) and self.std > 0):
            raise ConfigError(
                f"normalization needs a finite mean and a positive std, got mean={self.mean}, "
                f"std={self.std}"
            )

    def to_dict(self) -> dict[str, float]:
        """A JSON-ready ``{"mean": ..., "std": ...}``."""
        return {"mean": float(self.mean), "std": float(self.std)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Normalization:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(mean=float(data["mean"]), std=float(data["std"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"a normalization record needs numbers 'mean' and 'std', got {dict(data)}"
            ) from exc


def fit_normalization(sets: SliceSet | Sequence[SliceSet]) -> Normalization:
    """Mean and standard deviation over every pixel of the training slices.

    Parameters
    ----------
    sets
        One or more slice sets. Every array value counts once; for 2.5D images that is every
        channel (neighbouring slices included), i.e. the statistics of the network input.

    Returns
    -------
    Normalization
        Computed in float64 with two passes (mean, then squared deviations), population std.

    Raises
    ------
    InputError
        No pixels, or all pixels equal (std 0: nothing to normalize by).
    """
    sets = [sets] if isinstance(sets, SliceSet) else list(sets)
    images = [im for s in sets for im in s.images]
    count = sum(im.size for im in images)
    if count == 0:
        raise InputError("cannot fit a normalization on no pixels; give at least one slice")
    mean = sum(float(im.sum(dtype=np.float64)) for im in images) / count
    var = sum(float(np.square(im.astype(np.float64) - mean).sum()) for im in images) / count
    std = float(np.sqrt(var))
    if not std > 0:
        sources = ", ".join(s.source for s in sets)
        raise InputError(
            f"all training pixels of {sources} equal {mean}; the images carry no contrast"
        )
    return Normalization(mean=mean, std=std)


def normalize(array: np.ndarray, norm: Normalization) -> np.ndarray:
    """``(array - norm.mean) / norm.std`` as a new float32 array (any shape)."""
    out = np.asarray(array, dtype=np.float32) - np.float32(norm.mean)
    out /= np.float32(norm.std)
    return out
