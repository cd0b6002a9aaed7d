"""How objects are found, cut and measured: one frozen, validated set of options, and the
object classes of a store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from volseg.classify._split import DEFAULT_NECK_RATIO
from volseg.errors import ConfigError, InputError
from volseg.io import VolumeStore

__all__ = [
    "DEFAULT_FEATURE_VOXELS",
    "DEFAULT_OPTIONS",
    "ObjectOptions",
    "object_class_ids",
    "open_segmentation",
    "vote_id",
]

#: Objects whose bounding box holds more voxels are split and measured downsampled.
DEFAULT_FEATURE_VOXELS = 2**23


@dataclass(frozen=True)
class ObjectOptions:
    """How the objects are found, cut and measured; a classifier records the options it was
    trained with, and :func:`~volseg.classify.classify` uses them unless told otherwise.

    ``min_voxels``: smaller objects are dropped (dust); ``neck_ratio``, ``split``: the cut
    at necks (:func:`split_object`); ``max_voxels``: objects with larger bounding boxes are
    cut and measured downsampled (bounded memory).
    """

    min_voxels: int = 0
    neck_ratio: float = DEFAULT_NECK_RATIO
    split: bool = True
    max_voxels: int = DEFAULT_FEATURE_VOXELS

    def __post_init__(self) -> None:
        if int(self.min_voxels) != self.min_voxels or self.min_voxels < 0:
            raise ConfigError(f"min_voxels must be a whole number ≥ 0, got {self.min_voxels!r}")
        if not 0 < self.neck_ratio <= 1:
            raise ConfigError(f"neck_ratio must be in (0, 1], got {self.neck_ratio!r}")
        if int(self.max_voxels) != self.max_voxels or self.max_voxels < 1:
            raise ConfigError(f"max_voxels must be a whole number ≥ 1, got {self.max_voxels!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "min_voxels": int(self.min_voxels),
            "neck_ratio": float(self.neck_ratio),
            "split": bool(self.split),
            "max_voxels": int(self.max_voxels),
        }

    @classmethod
    def resolve(cls, recorded: Mapping[str, Any], **given: Any) -> ObjectOptions:
        """The options ``given`` (not None), else those ``recorded`` (e.g. a classifier's
        metadata), else the defaults."""
        names = ("min_voxels", "neck_ratio", "split", "max_voxels")
        values = {n: recorded[n] for n in names if recorded.get(n) is not None}
        values |= {n: v for n, v in given.items() if v is not None}
        return cls(**values)


def object_class_ids(volume: VolumeStore, labels: str, classes: Sequence[str]) -> list[int]:
    """The label values of ``classes`` in ``labels/<labels>`` (those it has; at least one)."""
    names = volume.classes(labels)
    ids = [names.index(c) for c in classes if c in names]
    if not ids:
        raise InputError(
            f"{volume.path} labels/{labels} has the classes {names}, none of the object "
            f"classes {list(classes)}; segment with a model that has them, or train the "
            "classifier with this store's class names"
        )
    return ids


def open_segmentation(path: str | Path, labels: str, classes: Sequence[str]) -> VolumeStore:
    """The complete store at ``path`` whose ``labels/<labels>`` (of the image's shape) holds
    at least one of the object ``classes``; the errors name the store and the fix."""
    volume = VolumeStore.open(path)
    volume.require_complete()
    if volume.labels(labels).shape != volume.image(0).shape:
        raise InputError(f"{volume.path} labels/{labels} does not match the image's shape")
    object_class_ids(volume, labels, classes)
    return volume


def vote_id(volume: VolumeStore, labels: str, classes: Sequence[str]) -> int | None:
    """The label value of the last object class (vessel) in ``labels/<labels>``, whose share
    of an object is its ``segmented_fraction``; None when the labels lack that class."""
    names = volume.classes(labels)
    return names.index(classes[-1]) if classes[-1] in names else None


#: The options when none are given or recorded.
DEFAULT_OPTIONS = ObjectOptions()
