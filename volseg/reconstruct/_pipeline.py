"""``reconstruct``: objects, table, meshes and skeletons of a segmented volume in one call."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from volseg.errors import ConfigError
from volseg.io import VolumeStore
from volseg.io._store import attrs
from volseg.reconstruct._blocks import Connectivity
from volseg.reconstruct._export import ExportResult, SkeletonMode, export_objects
from volseg.reconstruct._mesh import MeshFormat
from volseg.reconstruct._output import write_table
from volseg.reconstruct._precomputed import PRECOMPUTED_DIR, PrecomputedResult, export_precomputed
from volseg.reconstruct._reconstruct import BorderPolicy, ComponentsResult, reconstruct_components

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["DEFAULT_FORMATS", "ReconstructResult", "reconstruct"]

#: Mesh formats written by default: PLY per object (ParaView, Blender, MeshLab) and the
#: combined GLB scene (web viewers, Blender); OBJ and STL on request.
DEFAULT_FORMATS: tuple[MeshFormat, ...] = ("ply", "glb")
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
    meshes and skeletons (``export``, None when neither was asked for) and the same as
    neuroglancer precomputed sources (``precomputed``)."""

    components: ComponentsResult
    export: ExportResult | None
    seconds: float
    precomputed: PrecomputedResult | None = None

    @property
    def n_objects(self) -> int:
        return self.components.n_objects


def reconstruct(
    labels_store: str | Path,
    out_dir: str | Path,
    *,
    labels: str = "segmentation",
    classes: Sequence[str] | None = None,
    connectivity: Connectivity = 26,
    block_shape: Sequence[int] | None = None,
    min_voxels: int = 0,
    border: BorderPolicy = "keep",
    meshes: bool = True,
    formats: Sequence[MeshFormat] = DEFAULT_FORMATS,
    skeletons: SkeletonMode = "elongated",
    min_elongation: float = 3.0,
    smooth_iterations: int = 10,
    simplify: float | None = None,
    client: Client | None = None,
    progress: bool = True,
    overwrite: bool = False,
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
    :func:`~volseg.reconstruct.export_precomputed`). See the two functions for the parameters;
    ``overwrite`` also replaces the ``meshes``, ``skeletons`` and ``precomputed`` folders of
    an earlier run.

    Parameters
    ----------
    labels_store
        A complete volseg store holding the image and the class labels ``labels``.
    out_dir
        Folder for everything listed above.
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
    meshes
        Whether to mesh the objects.
    formats
        Mesh file formats among ``"ply"``, ``"obj"``, ``"stl"``, ``"glb"``.
    skeletons
        Which objects to skeletonize: ``"elongated"`` (``elongation >= min_elongation``),
        ``"all"`` or ``"none"``.
    min_elongation
        The elongation from which ``skeletons="elongated"`` skeletonizes an object.
    smooth_iterations
        Taubin smoothing rounds of the meshes.
    simplify
        Fraction of mesh faces to keep (0 < simplify ≤ 1), by quadric decimation; None
        keeps every face.
    client
        A dask client; None starts a local cluster (or connects to
        ``DASK_SCHEDULER_ADDRESS``) for the duration of the call.
    progress
        Draw progress bars on stderr.
    overwrite
        Replace the outputs of an earlier run in ``out_dir``.

    Returns
    -------
    ReconstructResult
        ``components`` (the objects: store, tables, count), ``export`` (meshes and
        skeletons; None when neither was asked for), ``precomputed`` and ``seconds``.

    Raises
    ------
    ConfigError
        An unknown class, skeleton mode, connectivity, border policy or ``min_voxels``.
    IncompleteStoreError, StoreNotFoundError, StoreExistsError, GeometryError
        As :func:`~volseg.reconstruct.reconstruct_components`.
    """
    t0 = time.perf_counter()
    if skeletons not in ("elongated", "all", "none"):
        raise ConfigError(f"skeletons must be 'elongated', 'all' or 'none', got {skeletons!r}")
    out = Path(out_dir)
    components = reconstruct_components(
        labels_store,
        out,
        labels=labels,
        classes=classes,
        connectivity=connectivity,
        block_shape=block_shape,
        min_voxels=min_voxels,
        border=border,
        client=client,
        progress=progress,
        overwrite=overwrite,
    )
    export = precomputed = None
    if meshes or skeletons != "none":
        # only reached with overwrite or a new out
        for folder in ("meshes", "skeletons", PRECOMPUTED_DIR):
            shutil.rmtree(out / folder, ignore_errors=True)
        store = VolumeStore.open(components.store)
        table = pd.read_parquet(components.parquet)
        # the classes the objects were made of decide the SWC node types (soma, vessel)
        made_of = attrs(store.label_group(components.labels_name))["volseg"]["objects"]
        export = export_objects(
            store.labels(components.labels_name),
            table,
            out,
            voxel_size=store.voxel_size,
            formats=formats,
            meshes=meshes,
            skeletons=skeletons,
            min_elongation=min_elongation,
            classes=made_of["classes"],
            smooth_iterations=smooth_iterations,
            simplify=simplify,
            progress=progress,
        )
        precomputed = export_precomputed(export, out / PRECOMPUTED_DIR / components.labels_name)
        added = export.measurements[["id", *_ADDED]]
        write_table(table.merge(added, on="id", how="left"), out)
    return ReconstructResult(components, export, time.perf_counter() - t0, precomputed)
