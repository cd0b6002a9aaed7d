"""Export every object of a labels volume as meshes and skeletons for reconstruction tools."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import trimesh

from volseg.errors import ConfigError, InputError
from volseg.geometry import Box
from volseg.reconstruct._mesh import (
    check_mesh_options,
    mesh_sampled,
    write_mesh,
    write_scene,
)
from volseg.reconstruct._options import MESH_FORMATS, SKELETON_MODES, MeshFormat, SkeletonMode
from volseg.reconstruct._sampling import (
    DEFAULT_MAX_VOXELS,
    check_voxel_size,
    read_sampled_mask,
)
from volseg.reconstruct._skeleton import skeleton_sampled
from volseg.reconstruct._swc import SwcStructure, swc_structure, write_swc
from volseg.runtime._progress import count_bar

__all__ = ["ExportResult", "export_objects"]

_BBOX = ["bbox_z0", "bbox_y0", "bbox_x0", "bbox_z1", "bbox_y1", "bbox_x1"]
_MEASUREMENTS = {
    "id": "int64",
    "mesh_area_um2": "float64",
    "mesh_volume_um3": "float64",
    "mesh_watertight": "boolean",
    "mesh_faces": "Int64",
    "skeleton_length_um": "float64",
    "skeleton_nodes": "Int64",
    "skeleton_branch_points": "Int64",
    "downsample_factor": "object",
}


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_objects` wrote.

    ``measurements`` has one row per exported object: ``id``, ``mesh_area_um2``,
    ``mesh_volume_um3``, ``mesh_watertight``, ``mesh_faces``, ``skeleton_length_um``,
    ``skeleton_nodes``, ``skeleton_branch_points`` (missing values where an object was not
    meshed or skeletonized) and ``downsample_factor`` (z, y, x). ``skeleton_files`` holds
    the objects with an SWC file: not those whose skeleton is a single node, unless they
    are somas (see :func:`export_objects`).
    """

    out_dir: Path
    mesh_files: dict[int, dict[str, Path]]
    scene_files: dict[str, Path]
    skeleton_files: dict[int, Path]
    measurements: pd.DataFrame

    @property
    def n_meshes(self) -> int:
        return len(self.mesh_files)

    @property
    def n_skeletons(self) -> int:
        return len(self.skeleton_files)


def _check_table(table: pd.DataFrame, skeletons: SkeletonMode) -> None:
    needed = ["id", *_BBOX] + (["elongation"] if skeletons == "elongated" else [])
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise InputError(
            f"the object table lacks the column(s) {', '.join(missing)}; it needs "
            f"{', '.join(needed)} (voxel indices, end exclusive)"
        )
    ids = table["id"].to_numpy()
    if len(ids) and (ids.min() < 1 or len(np.unique(ids)) != len(ids)):
        raise InputError("object ids in the table must be unique and >= 1 (0 is background)")


def export_objects(
    labels: Any,
    table: pd.DataFrame,
    out_dir: str | Path,
    *,
    voxel_size: Sequence[float],
    formats: Sequence[MeshFormat] = MESH_FORMATS,
    meshes: bool = True,
    skeletons: SkeletonMode = "elongated",
    min_elongation: float = 3.0,
    classes: Sequence[str] | None = None,
    smooth_iterations: int = 10,
    simplify: float | None = None,
    max_voxels: int = DEFAULT_MAX_VOXELS,
    scene: bool = True,
    progress: bool = True,
) -> ExportResult:
    """Mesh and skeletonize each object of ``table``, reading only its bounding box.

    Parameters
    ----------
    labels : (Z, Y, X) array-like of object ids
        A numpy or zarr array (anything sliceable); 0 is background.
    table : DataFrame
        One row per object: ``id`` and ``bbox_z0 … bbox_x1`` (voxel indices, end exclusive);
        ``elongation`` too when ``skeletons="elongated"``.
    out_dir : path
        Receives ``meshes/object_<id>.<fmt>`` and ``meshes/scene.<fmt>`` for every format,
        ``skeletons/object_<id>.swc`` (one tree per file) and ``export.json`` (the options
        used).
    voxel_size : (dz, dy, dx)
        Voxel size in µm. Outputs are in µm (GLB: metres), vertices and nodes in (x, y, z)
        order.
    formats : sequence of {"ply", "obj", "stl", "glb"}
        Mesh file formats; each file names its unit (see :func:`write_mesh`).
    meshes : bool
        Whether to mesh the objects.
    skeletons : {"elongated", "all", "none"}
        Which objects to skeletonize: those with ``elongation >= min_elongation``, all, none.
    classes : sequence of str, optional
        The classes the objects were made of; they decide the SWC root and node types
        (see :func:`write_swc`): ``["soma"]``: the soma is the root (type 1), so a round
        soma is a single-point soma; ``["vessel"]``: type 7 ("custom: vessel"); anything
        else: type 0. A skeleton of a single node that is not a soma (a round blob: no
        centre line) is measured but not written.
    smooth_iterations, simplify
        See :func:`object_mesh`; here smoothing defaults to 10 Taubin rounds.
    max_voxels : int
        Objects whose bounding box (grown by one voxel) is larger are processed block-any
        downsampled, read slab by slab: memory is bounded by about ``max_voxels`` voxels.
    scene : bool
        Whether to write the combined ``scene.<fmt>`` files (they hold every mesh in memory).
    progress : bool
        Show a progress bar over objects on stderr.

    Raises
    ------
    InputError
        If the table lacks a column or an object has no voxel inside its bounding box.
    """
    fmts = tuple(dict.fromkeys(str(f).lower() for f in formats))
    if unknown := [f for f in fmts if f not in MESH_FORMATS]:
        raise ConfigError(f"unknown mesh format(s) {unknown}; choose from {MESH_FORMATS}")
    if skeletons not in SKELETON_MODES:
        raise ConfigError(f"skeletons must be one of {SKELETON_MODES}, got {skeletons!r}")
    if getattr(labels, "ndim", None) != 3:
        shape = getattr(labels, "shape", type(labels).__name__)
        raise InputError(f"labels must be a 3-D (z, y, x) array, got {shape}")
    check_mesh_options(smooth_iterations=smooth_iterations, simplify=simplify)
    _check_table(table, skeletons)
    options = _Options(
        out=Path(out_dir),
        voxel_size=check_voxel_size(voxel_size),
        formats=fmts,
        meshes=meshes,
        skeletons=skeletons,
        min_elongation=float(min_elongation),
        classes=None if classes is None else tuple(classes),
        swc_structure=swc_structure(classes),
        smooth_iterations=int(smooth_iterations),
        simplify=simplify,
        max_voxels=int(max_voxels),
    )
    result = ExportResult(options.out, {}, {}, {}, pd.DataFrame())
    all_meshes: dict[int, trimesh.Trimesh] = {}
    rows = []
    with count_bar(enabled=progress, unit="objects") as bar:
        task = bar.add_task("export objects", total=len(table))
        for record in table.to_dict("records"):
            row, mesh = _export_one(labels, record, options, result)
            rows.append(row)
            if mesh is not None and scene:
                all_meshes[row["id"]] = mesh
            bar.advance(task)
    out = options.out
    scene_files = {
        f: write_scene(all_meshes, out / "meshes" / f"scene.{f}") for f in fmts if all_meshes
    }
    out.mkdir(parents=True, exist_ok=True)
    record_options = {**asdict(options), "out": str(out), "scene": scene, "objects": len(table)}
    record_options |= {"mesh_units": {"glb": "metre", "ply, obj, stl": "micrometre"}}
    (out / "export.json").write_text(json.dumps(record_options, indent=2) + "\n")
    measurements = pd.DataFrame(rows, columns=list(_MEASUREMENTS)).astype(_MEASUREMENTS)
    return replace(result, scene_files=scene_files, measurements=measurements)


@dataclass(frozen=True)
class _Options:
    out: Path
    voxel_size: tuple[float, float, float]
    formats: tuple[str, ...]
    meshes: bool
    skeletons: SkeletonMode
    min_elongation: float
    classes: tuple[str, ...] | None
    swc_structure: SwcStructure
    smooth_iterations: int
    simplify: float | None
    max_voxels: int


def _export_one(
    labels: Any, record: dict[str, Any], options: _Options, result: ExportResult
) -> tuple[dict[str, Any], trimesh.Trimesh | None]:
    """Mesh and skeletonize one object; its files go into ``result``'s path mappings."""
    object_id = int(record["id"])
    box = Box(tuple(int(record[c]) for c in _BBOX[:3]), tuple(int(record[c]) for c in _BBOX[3:]))
    sampled = read_sampled_mask(
        labels,
        box.grow(1).clip(Box.from_shape(labels.shape)),
        object_id,
        voxel_size=options.voxel_size,
        max_voxels=options.max_voxels,
    )
    if not sampled.mask.any():
        raise InputError(
            f"object {object_id} has no voxel inside its bounding box {box}: "
            "the table does not belong to these labels"
        )
    row: dict[str, Any] = {"id": object_id, "downsample_factor": sampled.factor}
    mesh = None
    if options.meshes:
        mesh = mesh_sampled(
            sampled, smooth_iterations=options.smooth_iterations, simplify=options.simplify
        )
        row |= {
            "mesh_area_um2": mesh.area,
            "mesh_volume_um3": mesh.volume,
            "mesh_watertight": mesh.is_watertight,
            "mesh_faces": len(mesh.faces),
        }
        folder = options.out / "meshes"
        result.mesh_files[object_id] = {
            f: write_mesh(mesh, folder / f"object_{object_id}.{f}") for f in options.formats
        }
    if options.skeletons == "all" or (
        options.skeletons == "elongated" and record["elongation"] >= options.min_elongation
    ):
        skeleton = skeleton_sampled(sampled)
        row |= {
            "skeleton_length_um": skeleton.length_um,
            "skeleton_nodes": len(skeleton),
            "skeleton_branch_points": skeleton.n_branch_points,
        }
        if len(skeleton) > 1 or options.swc_structure == "soma":
            result.skeleton_files[object_id] = write_swc(
                skeleton,
                options.out / "skeletons" / f"object_{object_id}.swc",
                structure=options.swc_structure,
                object_id=object_id,
                comments=[f"voxel size (dz, dy, dx) {options.voxel_size} um"],
            )
    return row, mesh
