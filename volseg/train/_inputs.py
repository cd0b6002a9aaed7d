"""Input variants of training data: whole images, or segmented images (the region of
interest kept, everything else set to one uniform value), applied before cropping."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator
from scipy import ndimage

from volseg.config import FrozenConfig
from volseg.errors import ConfigError, InputError
from volseg.io import open_source
from volseg.train._data import SliceSet

Variant = Literal["whole", "segmented"]


class InputConfig(FrozenConfig):
    """How training images are presented to the network.

    ``segmented`` keeps a region of interest and sets every other pixel to ``fill``: the
    region is the ground-truth objects (labels > 0) dilated by ``dilate`` px, or a
    tissue / field-of-view ``mask`` (a folder of mask images named like the slices, or a
    labels group of the store; non-zero = inside). ``fill`` is ``mean`` (the mean of the
    whole training images), ``zero`` or a number; the value used is recorded.
    """

    variant: Variant = "whole"
    region: Literal["objects", "mask"] = "objects"
    dilate: int = Field(8, ge=0)
    mask: str | None = None
    fill: Literal["mean", "zero"] | float = "mean"

    @model_validator(mode="after")
    def _mask_given(self) -> InputConfig:
        if self.variant == "segmented" and self.region == "mask" and not self.mask:
            raise ValueError("region: mask needs mask: a folder of masks or a labels name")
        return self


def _folder_masks(folder: Path, sset: SliceSet) -> list[np.ndarray]:
    if not folder.is_dir():
        raise InputError(f"region mask folder {folder} does not exist; give a folder of masks")
    source = open_source(folder, role="labels")
    by_stem = {Path(n).stem: z for z, n in enumerate(source.names)}
    masks = []
    for name in sset.names:
        stem = name.split(" z=")[0] if " z=" in name else name
        if stem not in by_stem:
            raise InputError(
                f"region mask folder {folder} has no mask for slice {name}; name the masks "
                "like the image files"
            )
        masks.append(np.asarray(source.read(by_stem[stem])) != 0)
    return masks


def _store_masks(store: Path, name: str, sset: SliceSet, slices: Sequence[int]) -> list[np.ndarray]:
    from volseg.io import VolumeStore, strict_labels

    vol = VolumeStore.open(store)
    if name not in vol.label_names:
        raise InputError(
            f"region mask {name!r} is not a labels group of {store} (it has "
            f"{vol.label_names or 'none'}); give mask: LABELS_NAME"
        )
    arr = strict_labels(vol.labels(name))
    return [arr[z] != 0 for z in slices]


def region_masks(
    sset: SliceSet,
    config: InputConfig,
    *,
    store_slices: Sequence[int] | None = None,
) -> list[np.ndarray]:
    """The region of interest of every slice of ``sset`` (bool ``(H, W)`` arrays).

    Raises
    ------
    InputError
        A missing mask, a mask whose shape differs from its image's, or an empty region
        (nothing would be left to train on).
    """
    if config.region == "objects":
        masks = []
        for label in sset.labels:
            fg = label != 0
            if config.dilate and fg.any():
                fg = ndimage.distance_transform_edt(~fg) <= config.dilate
            masks.append(fg)
    else:
        assert config.mask is not None  # checked by the config
        path = Path(config.mask)
        store = Path(sset.source.split("/labels/")[0])
        if (store / "zarr.json").is_file() and not path.is_dir():
            zs = list(store_slices) if store_slices is not None else list(range(len(sset)))
            masks = _store_masks(store, config.mask, sset, zs)
        else:
            masks = _folder_masks(path, sset)
    for name, mask, label in zip(sset.names, masks, sset.labels, strict=True):
        if mask.shape != label.shape:
            raise InputError(
                f"region mask of slice {name} is {mask.shape} (H, W) but the image is "
                f"{label.shape}; masks must match their images"
            )
    if not any(m.any() for m in masks):
        what = "the ground-truth objects" if config.region == "objects" else config.mask
        raise InputError(
            f"the region of interest ({what}) is empty on every slice of {sset.source}; "
            "nothing would be left to train on"
        )
    return masks


def fill_value(sets: Sequence[SliceSet], config: InputConfig) -> float:
    """The uniform value outside the region: the mean of the whole images, 0, or a number."""
    if config.fill == "zero":
        return 0.0
    if config.fill == "mean":
        total = sum(float(np.sum(im, dtype=np.float64)) for s in sets for im in s.images)
        count = sum(im.size for s in sets for im in s.images)
        return total / count
    return float(config.fill)


def segment_inputs(sset: SliceSet, masks: Sequence[np.ndarray], value: float) -> SliceSet:
    """``sset`` with every pixel outside its region set to ``value`` (labels unchanged)."""
    if len(masks) != len(sset):
        raise ConfigError(f"{len(masks)} region masks for {len(sset)} slices of {sset.source}")
    images = []
    for image, mask in zip(sset.images, masks, strict=True):
        out = np.array(image, dtype=np.float32, copy=True)
        out[..., ~mask] = value
        images.append(out)
    return SliceSet(images, sset.labels, sset.names, sset.classes, sset.source, sset.voxel_size)
