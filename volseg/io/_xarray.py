"""Dask-backed xarray views of volseg stores, with coordinates in micrometres."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from volseg.errors import StoreNotFoundError
from volseg.io._layout import AXES, scale_and_translation
from volseg.io._store import VolumeStore, attrs
from volseg.io._strict import StrictArray


def _as_dataarray(
    array: StrictArray, level_meta: dict[str, Any], name: str, attrs: dict[str, Any]
) -> xr.DataArray:
    scale, translation = scale_and_translation(level_meta)
    data = array.to_dask()  # strict: a damaged chunk is an error naming its key
    coords = {
        axis: xr.Variable(
            axis, t + s * np.arange(n, dtype=np.float64), attrs={"units": "micrometer"}
        )
        for axis, n, s, t in zip(AXES, array.shape, scale, translation, strict=True)
    }
    return xr.DataArray(
        data, dims=AXES, coords=coords, name=name, attrs={**attrs, "voxel_size": scale}
    )


def open_volume(
    path: str | Path, *, level: int = 0, allow_incomplete: bool = False, fill_missing: bool = False
) -> xr.DataArray:
    """Open the image of a store as a lazy, dask-backed ``xarray.DataArray``.

    Parameters
    ----------
    path
        A volseg store (or any OME-Zarr 0.5 image with z, y, x axes).
    level
        Pyramid level; 0 is full resolution.
    allow_incomplete
        Read a store whose writing never finished (its data may be partial; a chunk never
        written reads as the fill value).
    fill_missing
        Read a missing image chunk as the fill value: for a foreign store whose writer
        omits chunks that hold only it. Without it, reading a missing chunk is an error.

    Returns
    -------
    xarray.DataArray
        Dimensions ``(z, y, x)``, coordinates in micrometres (voxel centres), dask chunks
        equal to the zarr chunks; ``attrs`` hold ``voxel_size`` (µm, z y x), ``unit``,
        ``complete``, ``provenance`` and the store path.

    Raises
    ------
    StoreNotFoundError, InvalidStoreError, IncompleteStoreError
        When opened.
    MissingChunkError, CorruptChunkError
        When computed: a chunk read is missing (unless ``fill_missing``) or fails its
        checksum or cannot be decoded; the message names the array and the chunk key.

    Examples
    --------
    >>> vol = open_volume("phantom.zarr")          # doctest: +SKIP
    >>> vol.sel(z=10.0, method="nearest").mean().compute()   # doctest: +SKIP
    """
    store = VolumeStore.open(path)
    if not allow_incomplete:
        store.require_complete()
    meta = store.meta
    attrs = {
        "store": str(store.path),
        "unit": "micrometer",
        "complete": store.complete,
        "provenance": meta.get("provenance", {}),
        "labels": store.label_names,
        **{k: v for k, v in meta.items() if k not in ("provenance", "complete", "voxel_size")},
    }
    ds = store.multiscale["datasets"][level]
    # an incomplete store may lack image chunks its job never wrote: read them as the fill
    image = StrictArray(store.image(level), "image", fill_missing=allow_incomplete or fill_missing)
    return _as_dataarray(image, ds, store.multiscale.get("name", "image"), attrs)


def open_labels(
    path: str | Path,
    name: str | None = None,
    *,
    level: int = 0,
    allow_incomplete: bool = False,
) -> xr.DataArray:
    """Open a label image ``labels/<name>`` of a store like :func:`open_volume`.

    ``name`` may be omitted when the store has exactly one label image. ``attrs`` add
    ``classes`` (the class name of each label value).

    Parameters
    ----------
    path
        A volseg store.
    name
        The label image (``ground_truth``, ``segmentation``, ...); ``None`` when the store
        holds exactly one.
    level
        Pyramid level; 0 is full resolution.
    allow_incomplete
        Read a store whose writing never finished (its data may be partial).

    Returns
    -------
    xarray.DataArray
        Dimensions ``(z, y, x)``, coordinates in micrometres, class ids as values; ``attrs``
        as :func:`open_volume`'s plus ``classes``.

    Raises
    ------
    StoreNotFoundError, InvalidStoreError, IncompleteStoreError
        As :func:`open_volume`; also when ``name`` is omitted and the store does not hold
        exactly one label image (the message lists them).
    CorruptChunkError
        When computed: a chunk fails its checksum or cannot be decoded (a missing chunk
        is background).
    """
    store = VolumeStore.open(path)
    if not allow_incomplete:
        store.require_complete()
    names = store.label_names
    if name is None:
        if len(names) != 1:
            raise StoreNotFoundError(
                f"{store.path} has {len(names)} label images ({names or 'none'}); name one"
            )
        name = names[0]
    group = store.label_group(name)
    ds = attrs(group)["ome"]["multiscales"][0]["datasets"][level]
    info = {
        "store": str(store.path),
        "unit": "micrometer",
        "classes": store.classes(name),
        "provenance": store.meta.get("provenance", {}),
        **{k: v for k, v in attrs(group).get("volseg", {}).items() if k != "classes"},
    }
    return _as_dataarray(StrictArray(store.labels(name, level), "labels"), ds, name, info)
