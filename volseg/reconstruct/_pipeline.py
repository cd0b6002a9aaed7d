"""``reconstruct``: objects, table, meshes and skeletons of a segmented volume in one call."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from volseg.io import strict_labels
from volseg.io._store import attrs
from volseg.reconstruct._config import ReconstructConfig, make_config
from volseg.reconstruct._export import ExportResult, export_objects
from volseg.reconstruct._options import DEFAULT_FORMATS
from volseg.reconstruct._output import write_table
from volseg.reconstruct._precomputed import PRECOMPUTED_DIR, PrecomputedResult, export_precomputed
from volseg.reconstruct._reconstruct import (
    ComponentsResult,
    complete_objects,
    objects_run,
    plan_objects,
    write_objects,
)
from volseg.runtime import client_or_connect

if TYPE_CHECKING:
    from distributed import Client

    from volseg.io import VolumeStore

__all__ = ["DEFAULT_FORMATS", "ReconstructResult", "reconstruct"]

# Mesh and skeleton measurements added to the object table.
_ADDED = [
    "mesh_area_um2",
    "mesh_volume_um3",
    "mesh_watertight",
    "skeleton_length_um",
    "skeleton_branch_points",
]


@dataclass(frozen=True)
class ReconstructResult:
    """What :func:`reconstruct` wrote: the objects (:class:`ComponentsResult`), their
    meshes and skeletons (``export``, None when neither was asked for), the same as
    neuroglancer precomputed sources (``precomputed``) and the ``config`` it ran with."""

    components: ComponentsResult
    export: ExportResult | None
    seconds: float
    precomputed: PrecomputedResult | None = None
    config: ReconstructConfig | None = None

    @property
    def n_objects(self) -> int:
        return self.components.n_objects


def reconstruct(
    labels_store: str | Path,
    out_dir: str | Path,
    config: ReconstructConfig | None = None,
    *,
    client: Client | None = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
    **options: Any,
) -> ReconstructResult:
    """3D objects of a segmented volume for reconstruction tools.

    :func:`reconstruct_components` (block-wise connected components, object table,
    ``objects.zarr``), then :func:`export_objects` (a mesh per object and a combined
    scene in every format of ``formats``; SWC skeletons of the objects chosen by
    ``skeletons``), reading each object's bounding box only. The mesh area and volume and
    the skeleton length are added to ``objects.parquet`` / ``objects.csv``.

    Writes into ``out_dir``: ``objects.zarr``, ``objects.parquet``, ``objects.csv``,
    ``meshes/object_<id>.<fmt>``, ``meshes/scene.<fmt>``, ``skeletons/object_<id>.swc``,
    ``export.json`` and, for neuroglancer,
    ``precomputed/<objects labels>/meshes`` and ``.../skeletons`` (see
    :func:`~volseg.reconstruct.export_precomputed`). ``overwrite`` also replaces the
    ``meshes``, ``skeletons`` and ``precomputed`` folders of an earlier run.

    Parameters
    ----------
    labels_store
        A complete volseg store holding the image and the class labels ``labels``.
    out_dir
        Folder for everything listed above.
    config
        Every option (:class:`~volseg.reconstruct.ReconstructConfig`); None: built from
        ``options``. Its fields:

        labels
            The label image of class ids to read (default ``"segmentation"``).
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
            ``"drop"`` drops objects with a voxel on the volume's outer faces; ``"keep"``
            keeps them (``touches_border`` marks them in the table).
        meshes
            Whether to mesh the objects.
        formats
            Mesh file formats among ``"ply"``, ``"obj"``, ``"stl"``, ``"glb"`` (default PLY
            and GLB).
        skeletons
            Which objects to skeletonize: ``"elongated"`` (``elongation >=
            min_elongation``), ``"all"`` or ``"none"``.
        min_elongation
            The elongation from which ``skeletons="elongated"`` skeletonizes an object.
        smooth_iterations
            Taubin smoothing rounds of the meshes (default 10).
        simplify
            Fraction of mesh faces to keep (0 < simplify ≤ 1), by quadric decimation;
            None keeps every face.
    client, scheduler, n_workers
        A dask client; else the scheduler to connect to (default
        ``DASK_SCHEDULER_ADDRESS``), else a local cluster of ``n_workers`` processes for
        the objects, started after the inputs are checked.
    progress
        Draw progress bars on stderr.
    overwrite
        Replace the outputs of an earlier run in ``out_dir``.
    **options
        The fields of the config, when it is not given whole (``min_voxels=50``); given
        with ``config``, they replace its fields. Validated once, here.

    Returns
    -------
    ReconstructResult
        ``components`` (the objects: store, tables, count), ``export`` (meshes and
        skeletons; None when neither was asked for), ``precomputed``, ``seconds`` and the
        ``config``.

    Raises
    ------
    ConfigError
        An unknown class or option, or a bad value (the message names the option).
    IncompleteStoreError, StoreNotFoundError, StoreExistsError, RunLockedError, GeometryError
        As :func:`~volseg.reconstruct.reconstruct_components`.

    Notes
    -----
    The run holds the lock of ``objects.zarr`` from before it is created until the meshes,
    skeletons and tables are written: a second run on ``out_dir`` is refused meanwhile.
    ``objects.zarr`` is marked complete after all of them: a run that stops while
    exporting leaves it incomplete, and a rerun with ``overwrite`` does it all again.
    The config is stored, resolved, in the provenance of ``objects.zarr``.

    Examples
    --------
    >>> reconstruct("seg.zarr", "objects", classes=["soma"], min_voxels=50)  # doctest: +SKIP
    >>> config = ReconstructConfig(classes=("vessel",), skeletons="all", meshes=False)
    >>> reconstruct("seg.zarr", "vessels", config)  # doctest: +SKIP
    """
    started = time.perf_counter()
    config = make_config(ReconstructConfig, config, options, what="reconstruct options")
    out = Path(out_dir)
    plan = plan_objects(labels_store, out, config, overwrite=overwrite)
    exporting = config.meshes or config.skeletons != "none"
    with objects_run(plan, overwrite=overwrite) as store:
        with client_or_connect(client, scheduler, n_workers=n_workers) as c:
            components = write_objects(
                plan, store, client=c, progress=progress, started=started, complete=not exporting
            )
        export = precomputed = None
        if exporting:  # objects.zarr is marked complete once meshes and skeletons are out too
            export, precomputed = _export(store, components, config, out, progress=progress)
            complete_objects(store, components)
    seconds = time.perf_counter() - started
    return ReconstructResult(components, export, seconds, precomputed, config)


def _export(
    store: VolumeStore,
    components: ComponentsResult,
    config: ReconstructConfig,
    out: Path,
    *,
    progress: bool,
) -> tuple[ExportResult, PrecomputedResult]:
    """Meshes, skeletons and their precomputed sources; their measurements join the table."""
    for folder in ("meshes", "skeletons", PRECOMPUTED_DIR):  # an earlier run's (overwrite)
        shutil.rmtree(out / folder, ignore_errors=True)
    table = pd.read_parquet(components.parquet)
    # the classes the objects were made of decide the SWC node types (soma, vessel)
    made_of = attrs(store.label_group(components.labels_name))["volseg"]["objects"]
    export = export_objects(
        strict_labels(store.labels(components.labels_name)),
        table,
        out,
        voxel_size=store.voxel_size,
        formats=config.formats,
        meshes=config.meshes,
        skeletons=config.skeletons,
        min_elongation=config.min_elongation,
        classes=made_of["classes"],
        smooth_iterations=config.smooth_iterations,
        simplify=config.simplify,
        progress=progress,
    )
    precomputed = export_precomputed(export, out / PRECOMPUTED_DIR / components.labels_name)
    added = export.measurements[["id", *_ADDED]]
    write_table(table.merge(added, on="id", how="left"), out)
    return export, precomputed
