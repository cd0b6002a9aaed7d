"""The output store of a segmentation: the input image (hard-linked, not copied), the labels,
and optional probability and uncertainty arrays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, get_args

import numpy as np

from volseg._options import ProbabilityDtype
from volseg.errors import ConfigError, InvalidStoreError
from volseg.io import VolumeStore, derived_store
from volseg.io._layout import compressors

SEGMENTATION = "segmentation"


def create_output(
    volume: VolumeStore,
    out: str | Path,
    *,
    classes: Sequence[str],
    probabilities: ProbabilityDtype | None,
    uncertainty: bool,
    provenance: Mapping[str, Any],
    overwrite: bool,
) -> VolumeStore:
    """A new, incomplete output store holding the input image and empty outputs.

    The image levels are hard links of the input's files (no copy, no extra space on the
    same file system; zarr writes replace files, so neither store can change the other).
    ``labels/segmentation`` (uint8 class ids) has the image's chunks and levels;
    ``probabilities`` is ``(class, z, y, x)`` float16 or uint8 (p × 255, rounded);
    ``uncertainty`` is ``(z, y, x)`` float16 in [0, 1].
    """
    if len(classes) > 255:
        raise ConfigError(f"{len(classes)} classes do not fit uint8 labels")
    if probabilities is not None and probabilities not in get_args(ProbabilityDtype):
        raise ConfigError(
            f"probabilities must be one of {get_args(ProbabilityDtype)} or None, "
            f"got {probabilities!r}"
        )
    store = derived_store(volume, out, provenance=provenance, overwrite=overwrite)
    store.create_labels(SEGMENTATION, classes=classes, dtype="uint8")
    image = store.image(0)
    if probabilities is not None:
        store.group.create_array(
            "probabilities",
            shape=(len(classes), *image.shape),
            chunks=(1, *image.chunks),
            dtype=np.dtype(probabilities),
            fill_value=0,
            compressors=compressors(probabilities),
            dimension_names=("c", "z", "y", "x"),
            attributes={"classes": list(classes), "scale": 255 if probabilities == "uint8" else 1},
        )
    if uncertainty:
        store.group.create_array(
            "uncertainty",
            shape=image.shape,
            chunks=image.chunks,
            dtype="float16",
            fill_value=0,
            compressors=compressors("float16"),
            dimension_names=("z", "y", "x"),
        )
    return store


def open_output(out: str | Path) -> VolumeStore:
    """Reopen an output store to resume it (refusing anything that is not one)."""
    store = VolumeStore.open(out, mode="a")
    if SEGMENTATION not in store.label_names:
        raise InvalidStoreError(
            f"{out} is not a volseg segmentation output (no labels/{SEGMENTATION}); "
            "choose another --out"
        )
    return store
