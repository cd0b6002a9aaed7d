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
from volseg.io._layout import OME_VERSION
from volseg.io._store import attrs

OBJECTS_STORE = "objects.zarr"
OBJECTS_PARQUET = "objects.parquet"
OBJECTS_CSV = "objects.csv"
#: Temporary arrays of a run, removed when it succeeds.
WORK_DIR = ".volseg-work"


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

    Its ``image-label`` metadata names no classes: every value is an object, described in
    ``properties`` by :func:`set_object_properties`. Viewers colour such labels themselves.
    """
    array = store.create_labels(name, classes=["background"], dtype=dtype.name)
    group = store.label_group(name)
    ome = dict(attrs(group)["ome"])
    ome["image-label"] = {"version": OME_VERSION, "properties": [], "source": {"image": "../../"}}
    volseg = {**attrs(group).get("volseg", {}), "objects": dict(meta)}
    group.attrs.update({"ome": ome, "volseg": volseg})
    return array


def set_object_properties(store: VolumeStore, name: str, table: pd.DataFrame) -> None:
    """One OME ``image-label`` property per object: id, voxels, volume and centroid."""
    group = store.label_group(name)
    ome = dict(attrs(group)["ome"])
    centroids = table[["centroid_z_um", "centroid_y_um", "centroid_x_um"]].to_numpy()
    ome["image-label"] = {
        **ome["image-label"],
        "properties": [
            {
                "label-value": int(i),
                "voxels": int(v),
                "volume_um3": float(vol),
                "centroid_um": [float(c) for c in centroid],
            }
            for i, v, vol, centroid in zip(
                table["id"], table["voxels"], table["volume_um3"], centroids, strict=True
            )
        ],
    }
    group.attrs.update({"ome": ome})


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
