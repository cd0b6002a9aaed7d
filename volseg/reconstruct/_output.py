"""The outputs of a reconstruction: ``objects.zarr`` (image, class labels, object ids) and
the object table as Parquet and CSV."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import zarr

from volseg.io import VolumeStore, derived_store
from volseg.io._layout import OME_VERSION, object_colors
from volseg.io._store import attrs

OBJECTS_STORE = "objects.zarr"
OBJECTS_PARQUET = "objects.parquet"
OBJECTS_CSV = "objects.csv"
#: Temporary arrays of a run, removed when it succeeds.
WORK_DIR = ".volseg-work"
#: The table columns written as ``image-label`` properties of every object, and those
#: written when the table has them (a classified table). One scalar each: napari makes
#: every property key a column of its Labels layer, which must be 1-D.
OBJECT_PROPERTIES = ("voxels", "volume_um3", "centroid_z_um", "centroid_y_um", "centroid_x_um")
OPTIONAL_PROPERTIES = ("class", "class_probability")


def create_objects_store(
    volume: VolumeStore,
    path: str | Path,
    *,
    semantic: str | None,
    provenance: Mapping[str, Any],
    overwrite: bool,
) -> VolumeStore:
    """A new, incomplete store with the input's image and, if given, its class labels.

    Image levels and the ``labels/<semantic>`` image are hard links of the input's files
    (see :func:`volseg.io.link_tree`): no copy, and neither store can change the other.
    """
    return derived_store(
        volume,
        path,
        provenance=provenance,
        overwrite=overwrite,
        labels=[semantic] if semantic is not None else [],
    )


def create_instance_labels(
    store: VolumeStore, name: str, *, dtype: np.dtype, meta: Mapping[str, Any]
) -> zarr.Array:
    """Add the (incomplete) label image ``labels/<name>`` for object ids of ``dtype``.

    Its ``image-label`` metadata names no classes: every value is an object, given a colour
    and described in ``properties`` by :func:`set_object_properties`. Until then (and if
    there are no objects) only the background has a colour, transparent: napari-ome-zarr
    needs one colour at least to make a label colour map.
    """
    array = store.create_labels(name, classes=["background"], dtype=dtype.name)
    group = store.label_group(name)
    ome = dict(attrs(group)["ome"])
    ome["image-label"] = {
        "version": OME_VERSION,
        "colors": [{"label-value": 0, "rgba": [0, 0, 0, 0]}],
        "source": {"image": "../../"},
    }
    volseg = {**attrs(group).get("volseg", {}), "objects": dict(meta)}
    group.attrs.update({"ome": ome, "volseg": volseg})
    return array


def set_object_properties(store: VolumeStore, name: str, table: pd.DataFrame) -> None:
    """One ``image-label`` colour and property per object of ``table`` (one row per object,
    column ``id`` its label value).

    The properties are :data:`OBJECT_PROPERTIES` (voxels, volume and centroid, each a
    scalar), plus ``class`` and ``class_probability`` when the table has them. Colours are
    distinct per id (:func:`~volseg.io._layout.object_colors`).
    """
    ids = [int(i) for i in table["id"]]
    if not ids:
        return  # the background colour of create_instance_labels stays
    group = store.label_group(name)
    ome = dict(attrs(group)["ome"])
    columns = [*OBJECT_PROPERTIES, *(c for c in OPTIONAL_PROPERTIES if c in table.columns)]
    values = {c: [_scalar(v) for v in table[c].tolist()] for c in columns}
    properties = [
        {"label-value": i, **{c: values[c][row] for c in columns}} for row, i in enumerate(ids)
    ]
    ome["image-label"] = {
        **ome["image-label"],
        "colors": object_colors(ids),
        "properties": properties,
    }
    group.attrs.update({"ome": ome})


def _scalar(value: Any) -> int | float | str:
    """A JSON scalar: ints stay ints, other numbers become floats, names stay strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    return float(value)


def write_table(table: pd.DataFrame, out_dir: Path) -> tuple[Path, Path]:
    """Write ``objects.parquet`` and ``objects.csv`` (each to a temporary file first, so a
    reader never sees a half-written table)."""
    parquet, csv = out_dir / OBJECTS_PARQUET, out_dir / OBJECTS_CSV
    for path, write in (
        (parquet, lambda p: table.to_parquet(p, engine="pyarrow", index=False)),
        (csv, lambda p: table.to_csv(p, index=False)),
    ):
        tmp = path.with_name(path.name + ".partial")
        write(tmp)
        os.replace(tmp, path)
    return parquet, csv
