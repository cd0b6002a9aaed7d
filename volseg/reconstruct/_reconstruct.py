"""``reconstruct_components``: the objects of a segmented store, as labels and a table."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr

from volseg.errors import ConfigError, InputError, StoreExistsError
from volseg.geometry import BlockGrid
from volseg.io import VolumeStore, build_pyramid, provenance
from volseg.reconstruct._components import find_components, id_dtype, write_components
from volseg.reconstruct._config import ComponentsConfig, make_config
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
from volseg.runtime import client_or_connect, open_run, plan_blocks

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["ComponentsResult", "reconstruct_components"]


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


@dataclass(frozen=True)
class ObjectsPlan:
    """A reconstruction checked and planned, nothing written yet: the input, the blocks,
    the objects' label image ``name`` and ``config``, the config resolved (classes chosen,
    block shape derived) as it is stored with the output."""

    volume: VolumeStore
    class_labels: zarr.Array
    image: zarr.Array
    grid: BlockGrid
    out_dir: Path
    name: str
    config: dict[str, Any]

    @property
    def store(self) -> Path:
        return self.out_dir / OBJECTS_STORE


def _resolve_classes(
    volume: VolumeStore, labels: str, classes: Sequence[str] | None
) -> tuple[list[str], list[int]]:
    names = volume.classes(labels)
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


def plan_objects(
    labels_store: str | Path, out_dir: str | Path, config: ComponentsConfig, *, overwrite: bool
) -> ObjectsPlan:
    """Check the input and the options against it, and plan the blocks; writes nothing.

    Raises
    ------
    See :func:`reconstruct_components`.
    """
    volume = VolumeStore.open(labels_store)
    volume.require_complete()
    labels = config.labels
    class_labels = volume.labels(labels)
    image = volume.image(0)
    if not np.issubdtype(class_labels.dtype, np.integer) or class_labels.shape != image.shape:
        raise InputError(
            f"{volume.path} labels/{labels} is {class_labels.dtype} of shape "
            f"{class_labels.shape}; expected integer class ids of the image's shape "
            f"{image.shape}"
        )
    chosen, class_ids = _resolve_classes(volume, labels, config.classes)
    # blocks must tile the class labels (read) and the object ids (written, image chunks)
    grid = plan_blocks(class_labels.shape, class_labels.chunks, config.block_shape)
    plan_blocks(image.shape, image.chunks, grid.block_shape)
    out = Path(out_dir)
    tables = [out / OBJECTS_PARQUET, out / OBJECTS_CSV]
    if not overwrite and any(p.exists() for p in tables):
        raise StoreExistsError(
            f"{out} holds an object table already; pass --overwrite (overwrite=True) "
            "to replace it, or choose another output folder"
        )
    resolved = config.model_copy(update={"classes": chosen, "block_shape": grid.block_shape})
    stored = {
        "labels_store": str(volume.path.resolve()),
        **resolved.model_dump(mode="json"),
        "class_ids": class_ids,
    }
    name = "_".join(chosen) + "_objects"
    return ObjectsPlan(volume, class_labels, image, grid, out, name, stored)


@contextlib.contextmanager
def objects_run(plan: ObjectsPlan, *, overwrite: bool) -> Iterator[VolumeStore]:
    """Create ``objects.zarr`` holding its run lock, and hold it until the block ends: a
    second run on the same output is refused from before the store is made to the end."""

    def create() -> VolumeStore:
        labels = plan.config["labels"]
        inputs = [{"kind": "volume", "path": plan.config["labels_store"], "labels": labels}]
        return create_objects_store(
            plan.volume,
            plan.store,
            semantic=labels,
            provenance=provenance(config=plan.config, inputs=inputs),
            overwrite=overwrite,
        )

    with open_run(plan.store, create=create, overwrite=overwrite) as store:
        yield store


def complete_objects(store: VolumeStore, components: ComponentsResult) -> None:
    """Mark an objects store complete, with its counts: the last write of a run."""
    store.mark_complete(
        objects={
            "n_objects": components.n_objects,
            "n_removed": components.n_removed,
            "seconds": components.seconds,
        }
    )


def write_objects(
    plan: ObjectsPlan,
    store: VolumeStore,
    *,
    client: Client,
    progress: bool,
    started: float,
    complete: bool = True,
) -> ComponentsResult:
    """Find the objects of ``plan``, filter them and write them into ``store`` and the
    tables; ``store`` is marked complete last unless ``complete`` is false (a caller that
    writes more, meshes say, marks it with :func:`complete_objects` when done). Call it
    inside :func:`objects_run`."""
    config = plan.config
    work = plan.out_dir / WORK_DIR
    found = find_components(
        plan.class_labels,
        class_ids=config["class_ids"],
        work=work / "provisional",
        client=client,
        connectivity=config["connectivity"],
        block_shape=plan.grid.block_shape,
        image=plan.image,
        progress=progress,
    )
    volume = plan.volume
    table = object_table(found.moments, voxel_size=volume.voxel_size, shape=plan.image.shape)
    keep = table["voxels"].to_numpy() >= config["min_voxels"]
    if config["border"] == "drop":
        keep = keep & ~table["touches_border"].to_numpy()
    n_kept = int(keep.sum())
    dtype = id_dtype(n_kept)
    objects = create_instance_labels(
        store, plan.name, dtype=dtype, meta={**config, "n_objects": n_kept}
    )
    new_ids = write_components(found, objects, client=client, keep=keep, progress=progress)
    table = table[keep].reset_index(drop=True)
    table["id"] = new_ids[keep]
    if store.levels > 1:
        build_pyramid(store, labels=[plan.name], image=False, progress=progress)
    set_object_properties(store, plan.name, table)
    parquet, csv = write_table(table, plan.out_dir)
    result = ComponentsResult(
        out_dir=plan.out_dir,
        store=store.path,
        labels_name=plan.name,
        n_objects=n_kept,
        n_removed=len(keep) - n_kept,
        parquet=parquet,
        csv=csv,
        dtype=dtype.name,
        seconds=time.perf_counter() - started,
    )
    if complete:
        complete_objects(store, result)
    shutil.rmtree(work, ignore_errors=True)
    return result


def reconstruct_components(
    labels_store: str | Path,
    out_dir: str | Path,
    config: ComponentsConfig | None = None,
    *,
    client: Client | None = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
    **options: Any,
) -> ComponentsResult:
    """Split the voxels of some classes into 3D objects and measure each one.

    Parameters
    ----------
    labels_store
        A complete volseg store holding the image and the class labels ``config.labels``.
    out_dir
        Folder for ``objects.zarr``, ``objects.parquet`` and ``objects.csv``.
    config
        The options (:class:`~volseg.reconstruct.ComponentsConfig`: ``labels``,
        ``classes``, ``connectivity``, ``block_shape``, ``min_voxels``, ``border``; a
        :class:`~volseg.reconstruct.ReconstructConfig` serves too). None: built from
        ``options``.
    client, scheduler, n_workers
        A dask client; else the scheduler to connect to (default
        ``DASK_SCHEDULER_ADDRESS``), else a local cluster of ``n_workers`` processes for
        the call, started after the inputs are checked.
    progress
        Draw progress bars on stderr.
    overwrite
        Replace the outputs of an earlier run in ``out_dir``.
    **options
        The fields of the config, when it is not given whole (e.g. ``min_voxels=50``);
        given with ``config``, they replace its fields. Validated once, here.

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
        An unknown class (the message lists the classes), option, connectivity, border
        policy or ``min_voxels`` (the message names the option).
    StoreExistsError
        Outputs exist in ``out_dir`` and ``overwrite`` is false.
    RunLockedError
        Another run is writing ``out_dir`` (nothing is replaced then, even with
        ``overwrite``).
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
    has every column. The run holds the lock of ``objects.zarr`` from before the store is
    created to the end; the resolved config (classes chosen, block shape derived) is
    stored in its provenance.
    """
    started = time.perf_counter()
    config = make_config(ComponentsConfig, config, options, what="reconstruct options")
    plan = plan_objects(labels_store, out_dir, config, overwrite=overwrite)
    with (
        objects_run(plan, overwrite=overwrite) as store,
        client_or_connect(client, scheduler, n_workers=n_workers) as c,
    ):
        return write_objects(plan, store, client=c, progress=progress, started=started)
