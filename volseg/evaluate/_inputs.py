"""Resolve what ``volseg evaluate`` compares: store labels groups or plain arrays."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import numpy as np
import zarr

from volseg.errors import InputError, InputNotFoundError, StoreNotFoundError
from volseg.io import GROUND_TRUTH, VolumeStore, strict_image, strict_labels


@dataclass(frozen=True)
class LabelVolume:
    """A 3D label volume to score, with what is known about it. Stored arrays are read
    strictly: a corrupt chunk (or a missing image chunk) is an error naming its key, a
    missing labels chunk background."""

    data: da.Array
    source: str
    classes: list[str] | None = None
    voxel_size: tuple[float, float, float] | None = None
    image: da.Array | None = None  # the raw image, when the labels live in a volseg store


def _from_store(path: Path, name: str | None, *, role: str) -> LabelVolume:
    store = VolumeStore.open(path)
    store.require_complete()
    names = store.label_names
    if name is None:
        if role == "gt" and GROUND_TRUTH in names:
            name = GROUND_TRUTH
        else:
            others = [n for n in names if n != GROUND_TRUTH] if role == "pred" else names
            others = others or names
            if len(others) != 1:
                flag = "--pred-labels" if role == "pred" else "--gt-labels"
                raise StoreNotFoundError(
                    f"{path} has label images {names or 'none'}; choose one with {flag} NAME"
                )
            name = others[0]
    arr = store.labels(name)
    return LabelVolume(
        data=strict_labels(arr).to_dask(),
        source=f"{path}/labels/{name}",
        classes=store.classes(name),
        voxel_size=store.voxel_size,
        image=strict_image(store.image(0)).to_dask(),
    )


def open_label_volume(spec: str | Path, *, labels: str | None = None, role: str) -> LabelVolume:
    """Open ``spec``: a volseg store (+ labels name), ``STORE/labels/NAME``, a 3D ``.npy``
    or a zarr array.

    Parameters
    ----------
    spec
        The labels to score or score against.
    labels
        The label image of a store (``segmentation``, ``ground_truth``, ...); by default
        the store's only one.
    role
        What the volume is (``"pred"`` or ``"gt"``), used in error messages.

    Returns
    -------
    LabelVolume
        The labels as a dask array, their source, and what the store knows: class names,
        voxel size, the raw image.

    Raises
    ------
    InputNotFoundError
        ``spec`` does not exist.
    InputError
        ``spec`` is not a 3D volume of integer class ids.
    StoreNotFoundError
        ``labels`` is not given and the store holds several label images to choose from.
    """
    path = Path(spec)
    if not path.exists():
        raise InputNotFoundError(f"{role} {path} does not exist")
    if path.parent.name == "labels" and (path.parent.parent / "zarr.json").is_file():
        return _from_store(path.parent.parent, path.name, role=role)
    if path.suffix == ".npy":
        data = da.from_array(np.load(path, mmap_mode="r"), chunks=(1, -1, -1))
        return _check(LabelVolume(data=data, source=str(path)))
    node = zarr.open(path, mode="r")
    if isinstance(node, zarr.Array):
        return _check(LabelVolume(data=strict_labels(node).to_dask(), source=str(path)))
    return _check(_from_store(path, labels, role=role))


def _check(vol: LabelVolume) -> LabelVolume:
    if vol.data.ndim != 3:
        raise InputError(f"{vol.source} has shape {vol.data.shape}; expected a 3D (z, y, x) volume")
    if vol.data.dtype.kind not in "uib":
        raise InputError(
            f"{vol.source} has dtype {vol.data.dtype}: labels must be integer class ids "
            "(take the argmax of probabilities first)"
        )
    return vol


def parse_slices(text: str | None, depth: int) -> list[int] | None:
    """``"0,5,10-12"`` → ``[0, 5, 10, 11, 12]``, ``"0-12:4"`` → ``[0, 4, 8, 12]`` (a range
    with a step); every index checked against ``depth``."""
    if not text:
        return None
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                span, _, step = part.partition(":")
                a, b = (int(p) for p in span.split("-", 1))
                out.update(range(a, b + 1, int(step) if step else 1))
            elif part:
                out.add(int(part))
        except ValueError:
            raise InputError(
                f"--slices takes indices and ranges like 0,5,10-20 or 0-60:4; got {text!r}"
            ) from None
    bad = [z for z in out if not 0 <= z < depth]
    if bad:
        raise InputError(f"--slices names slice {bad[0]}, outside the volume's 0..{depth - 1}")
    return sorted(out)
