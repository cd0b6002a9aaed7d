"""``reconstruct_components``: the objects of a segmented store, as labels and a table."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from volseg.errors import ConfigError, InputError, StoreExistsError
from volseg.io import VolumeStore, build_pyramid, provenance
from volseg.reconstruct._blocks import CONNECTIVITIES, Connectivity
from volseg.reconstruct._components import find_components, id_dtype, write_components
from volseg.reconstruct._output import (
    OBJECTS_CSV,
    OBJECTS_PARQUET,
    OBJECTS_STORE,
    WORK_DIR,
    create_instance_labels,
    create_objects_store,
    set_object_properties,
    write_table,
)
from volseg.reconstruct._table import object_table
from volseg.runtime import RunLock, client_or_connect, plan_blocks

if TYPE_CHECKING:
    from distributed import Client

BorderPolicy = Literal["keep", "drop"]


@dataclass(frozen=True)
class ComponentsResult:
    """What :func:`reconstruct_components` wrote.

    ``store`` is ``objects.zarr`` with the object ids in ``labels/<labels_name>`` (of
    ``dtype``); ``parquet``/``csv`` are the object table; ``n_objects`` objects are kept,
    ``n_removed`` were dropped by the filters.
    """

    out_dir: Path
    store: Path
    labels_name: str
    n_objects: int
    n_removed: int
    parquet: Path
    csv: Path
    dtype: str
    seconds: float


def _resolve_classes(
    volume: VolumeStore, labels: str, classes: Sequence[str] | None
) -> tuple[list[str], list[int]]:
    names = volume.classes(labels)
    if isinstance(classes, str):
        classes = [classes]
    if classes is None:
        if "soma" in names:
            classes = ["soma"]
        elif len(names) > 1:
            classes = [names[1]]
        else:
            raise ConfigError(
                f"{volume.path} labels/{labels} has no foreground class (its classes: "
                f"{names}); pass classes=[...] naming the classes to reconstruct"
            )
    chosen = list(dict.fromkeys(classes))
    if not chosen:
        raise ConfigError(f"classes is empty; name some of the classes of labels/{labels}: {names}")
    missing = [c for c in chosen if c not in names]
    if missing:
        raise ConfigError(
            f"{volume.path} labels/{labels} has no class {', '.join(map(repr, missing))}; "
            f"its classes are {names} — pass some of those"
        )
    return chosen, [names.index(c) for c in chosen]


def reconstruct_components(
    labels_store: str | Path,
    out_dir: str | Path,
    *,
    labels: str = "segmentation",
    classes: Sequence[str] | None = None,
    connectivity: Connectivity = 26,
    block_shape: Sequence[int] | None = None,
    min_voxels: int = 0,
    border: BorderPolicy = "keep",
    client: Client | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> ComponentsResult:
    """Split the voxels of some classes into 3D objects and measure each one.

    Parameters
    ----------
    labels_store
        A complete volseg store holding the image and the class labels ``labels``.
    out_dir
        Folder for ``objects.zarr``, ``objects.parquet`` and ``objects.csv``.
    labels
        The label image of class ids to read.
    classes
        The class names whose voxels make up the objects (several are merged into one
        foreground). Default: ``"soma"`` when the labels have it, else class 1.
    connectivity
        6, 18 or 26: voxels sharing a face, also an edge, also a corner are neighbours.
    block_shape
        Voxels per task: whole chunks of the labels (default: derived from the chunks).
    min_voxels
        Objects with fewer voxels are dropped (dust); 0 keeps all.
    border
        ``"drop"`` drops objects with a voxel on the volume's outer faces; ``"keep"`` keeps
        them (``touches_border`` marks them in the table).
    client
        A dask client; None starts a local cluster (or connects to
        ``DASK_SCHEDULER_ADDRESS``) for the duration of the call.
    progress
        Draw progress bars on stderr.
    overwrite
        Replace the outputs of an earlier run in ``out_dir``.

    Returns
    -------
    ComponentsResult

    Raises
    ------
    IncompleteStoreError
        The input store was never completely written.
    StoreNotFoundError
        No store, or no label image ``labels`` in it.
    ConfigError
        An unknown class (the message lists the classes), a bad connectivity, border policy
        or ``min_voxels``.
    StoreExistsError
        Outputs exist in ``out_dir`` and ``overwrite`` is false.
    GeometryError
        A block shape that is not a whole number of chunks.

    Notes
    -----
    Object ids are those :func:`scipy.ndimage.label` gives the whole foreground: numbered
    ``1..N`` by first voxel in C (z, y, x) order, and after filtering renumbered ``1..k``
    in the same order. They do not depend on the block shape, the number of workers or the
    order tasks run in. The objects get the smallest of uint8/16/32/64 that holds ``k``;
    the table row of object ``i`` describes exactly the voxels labelled ``i`` (see
    :func:`~volseg.reconstruct.object_table` for the columns). ``objects.zarr`` is marked
    complete last, after the tables are written; with no objects the table is empty but
    has every column.
    """
    t0 = time.perf_counter()
    if connectivity not in CONNECTIVITIES:
        raise ConfigError(f"connectivity must be 6, 18 or 26, got {connectivity!r}")
    if border not in ("keep", "drop"):
        raise ConfigError(f"border must be 'keep' or 'drop', got {border!r}")
    if int(min_voxels) != min_voxels or min_voxels < 0:
        raise ConfigError(f"min_voxels must be a whole number ≥ 0, got {min_voxels!r}")
    volume = VolumeStore.open(labels_store)
    volume.require_complete()
    class_labels = volume.labels(labels)
    image = volume.image(0)
    if not np.issubdtype(class_labels.dtype, np.integer) or class_labels.shape != image.shape:
        raise InputError(
            f"{volume.path} labels/{labels} is {class_labels.dtype} of shape "
            f"{class_labels.shape}; expected integer class ids of the image's shape "
            f"{image.shape}"
        )
    chosen, class_ids = _resolve_classes(volume, labels, classes)
    # blocks must tile the class labels (read) and the object ids (written, image chunks)
    grid = plan_blocks(class_labels.shape, class_labels.chunks, block_shape)
    plan_blocks(image.shape, image.chunks, grid.block_shape)
    out_dir = Path(out_dir)
    tables = [out_dir / OBJECTS_PARQUET, out_dir / OBJECTS_CSV]
    if not overwrite and any(p.exists() for p in tables):
        raise StoreExistsError(
            f"{out_dir} holds an object table already; pass --overwrite (overwrite=True) "
            "to replace it, or choose another output folder"
        )
    name = "_".join(chosen) + "_objects"
    config = {
        "labels_store": str(volume.path.resolve()),
        "labels": labels,
        "classes": chosen,
        "class_ids": class_ids,
        "connectivity": connectivity,
        "block_shape": list(grid.block_shape),
        "min_voxels": int(min_voxels),
        "border": border,
    }
    if (out_dir / OBJECTS_STORE).exists():  # never replace an output another run writes
        RunLock(out_dir / OBJECTS_STORE).ensure_free()
    store = create_objects_store(
        volume,
        out_dir / OBJECTS_STORE,
        semantic=labels,
        provenance=provenance(
            config=config,
            inputs=[{"kind": "volume", "path": config["labels_store"], "labels": labels}],
        ),
        overwrite=overwrite,
    )
    with RunLock(store.path):  # a second run on this output is refused, never interleaved
        work = out_dir / WORK_DIR
        with client_or_connect(client) as c:
            found = find_components(
                class_labels,
                class_ids=class_ids,
                work=work / "provisional",
                client=c,
                connectivity=connectivity,
                block_shape=grid.block_shape,
                image=image,
                progress=progress,
            )
            table = object_table(found.moments, voxel_size=volume.voxel_size, shape=image.shape)
            keep = table["voxels"].to_numpy() >= min_voxels
            if border == "drop":
                keep = keep & ~table["touches_border"].to_numpy()
            n_kept = int(keep.sum())
            dtype = id_dtype(n_kept)
            objects = create_instance_labels(
                store, name, dtype=dtype, meta={**config, "n_objects": n_kept}
            )
            new_ids = write_components(found, objects, client=c, keep=keep, progress=progress)
        table = table[keep].reset_index(drop=True)
        table["id"] = new_ids[keep]
        if store.levels > 1:
            build_pyramid(store, labels=[name], image=False, progress=progress)
        set_object_properties(store, name, table)
        parquet, csv = write_table(table, out_dir)
        seconds = time.perf_counter() - t0
        store.mark_complete(
            objects={"n_objects": n_kept, "n_removed": len(keep) - n_kept, "seconds": seconds}
        )
        shutil.rmtree(work, ignore_errors=True)
    return ComponentsResult(
        out_dir=out_dir,
        store=store.path,
        labels_name=name,
        n_objects=n_kept,
        n_removed=len(keep) - n_kept,
        parquet=parquet,
        csv=csv,
        dtype=dtype.name,
        seconds=seconds,
    )
