"""Surface meshes of labelled objects (µm, x-y-z vertex order) and their files.

A mask is meshed by marching cubes on its one-voxel background padding, so every mesh is
closed, including objects cut by the crop or volume border. The classic (Lorensen) case
table is used: on binary masks it gives watertight, consistently wound surfaces, where the
Lewiner tables leave non-manifold edges between voxels that touch only along an edge.

Every file names its unit: PLY, OBJ and STL hold µm and say so in their header; GLB holds
metres, glTF's unit, and says so in ``asset.extras``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import trimesh
from skimage.measure import marching_cubes

from volseg.errors import ConfigError, InputError
from volseg.reconstruct._options import MESH_FORMATS, MeshFormat
from volseg.reconstruct._sampling import DEFAULT_MAX_VOXELS, SampledMask, sample_mask

__all__ = [
    "GLTF_UNIT",
    "MESH_FORMATS",
    "MeshFormat",
    "check_mesh_options",
    "mesh_sampled",
    "object_mesh",
    "write_mesh",
    "write_scene",
]


#: ``asset.extras`` of every GLB volseg writes: glTF's unit is the metre (glTF 2.0, "Coordinate
#: System and Units"), so vertices are written in metres, converted from the µm of the volume.
GLTF_UNIT: dict[str, Any] = {
    "unit": "metre",
    "source_unit": "micrometre",
    "scale_from_source": 1e-6,
    "axes": "x, y, z of the volume (voxel index x voxel size)",
    "generator": "volseg",
}
_METRES_PER_UM = 1e-6
# what the PLY, OBJ and STL headers say about their coordinates (ASCII: PLY headers are)
_UNIT_LINES = (
    "units: micrometre (um)",
    "vertices: x y z of the volume = voxel index (x, y, z) * voxel size",
)
_STL_HEADER = 80


def object_mesh(
    mask: np.ndarray,
    *,
    voxel_size: Sequence[float],
    origin_index: Sequence[float] = (0, 0, 0),
    smooth_iterations: int = 0,
    simplify: float | None = None,
    max_voxels: int = DEFAULT_MAX_VOXELS,
) -> trimesh.Trimesh:
    """The closed surface of a binary object, in µm with vertices in (x, y, z) order.

    Parameters
    ----------
    mask : (Z, Y, X) bool ndarray
        The object; ``mask[0, 0, 0]`` is voxel ``origin_index`` of the volume.
    voxel_size : (dz, dy, dx)
        Voxel size in µm. Voxel index ``i`` lies at ``i × voxel_size`` (its centre).
    origin_index : (z, y, x)
        Offset of the mask (a crop) in the volume, in voxels.
    smooth_iterations : int
        Rounds of Taubin smoothing (λ=0.5, ν=0.5): removes the voxel staircase, keeps the
        volume within about 1 % (no shrinkage, unlike Laplacian smoothing). 0 disables it.
    simplify : float, optional
        Fraction of faces to *keep* (0 < simplify ≤ 1), by quadric decimation.
    max_voxels : int
        Masks larger than this are meshed block-any downsampled (see
        :mod:`volseg.reconstruct._sampling`); the factor is recorded in
        ``mesh.metadata["downsample_factor"]`` (z, y, x).

    Returns
    -------
    trimesh.Trimesh
        Watertight, consistently wound with outward normals (positive ``volume``). The
        isosurface lies half-way between inside and outside voxel centres, so the mesh
        volume is within a few % of ``mask.sum() × prod(voxel_size)`` (slightly less: corners
        are cut).

    Raises
    ------
    InputError
        If the mask is not 3-D or holds no foreground voxel.

    Notes
    -----
    Quadric decimation does not guarantee a manifold result: it can pinch thin parts into
    non-manifold edges. After decimation, zero-area faces and back-to-back face pairs are
    removed; if the result is still not watertight while the input was, decimation is retried
    keeping 1.5 times as many faces, and the undecimated mesh is kept if nothing closes.
    ``mesh.metadata["faces_kept"]`` is the fraction actually kept.
    """
    sampled = sample_mask(
        mask, voxel_size=voxel_size, origin_index=origin_index, max_voxels=max_voxels
    )
    return mesh_sampled(sampled, smooth_iterations=smooth_iterations, simplify=simplify)


def mesh_sampled(
    sampled: SampledMask, *, smooth_iterations: int = 0, simplify: float | None = None
) -> trimesh.Trimesh:
    """:func:`object_mesh` of an already placed (and possibly downsampled) mask."""
    check_mesh_options(smooth_iterations=smooth_iterations, simplify=simplify)
    if not sampled.mask.any():
        raise InputError(
            f"the object mask of shape {sampled.mask.shape} has no foreground voxel to mesh"
        )
    padded = np.pad(sampled.mask, 1).astype(np.float32)
    verts, faces, _, _ = marching_cubes(
        padded, level=0.5, spacing=sampled.voxel_size, method="lorensen"
    )
    del padded
    # undo the padding, place the crop, and turn (z, y, x) into (x, y, z)
    shift = np.asarray(sampled.origin_um) - np.asarray(sampled.voxel_size)
    xyz = (verts.astype(np.float64) + shift)[:, ::-1]
    mesh = trimesh.Trimesh(xyz, faces, process=True)
    if mesh.volume < 0:  # the axis swap mirrors the surface; keep normals outward
        mesh.invert()
    if smooth_iterations:
        trimesh.smoothing.filter_taubin(mesh, lamb=0.5, nu=0.5, iterations=smooth_iterations)
    kept = 1.0
    if simplify is not None and simplify < 1:
        mesh, kept = _decimate(mesh, simplify)
    mesh.metadata["downsample_factor"] = tuple(int(f) for f in sampled.factor)
    mesh.metadata["faces_kept"] = float(kept)
    return mesh


def check_mesh_options(*, smooth_iterations: int, simplify: float | None) -> None:
    """Raise :class:`ConfigError` for a negative smoothing count or a bad face fraction."""
    if smooth_iterations < 0:
        raise ConfigError(f"smooth_iterations must be >= 0, got {smooth_iterations}")
    if simplify is not None and not 0 < simplify <= 1:
        raise ConfigError(f"simplify is the fraction of faces to keep, in (0, 1], got {simplify}")


def _clean(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    # decimation leaves zero-area faces and back-to-back "fins" (the same triangle twice,
    # opposite windings), both of which make edges non-manifold
    faces = np.sort(mesh.faces, axis=1)
    _, inverse, counts = np.unique(faces, axis=0, return_inverse=True, return_counts=True)
    keep = (counts[inverse.ravel()] == 1) & (mesh.area_faces > 0)
    mesh.update_faces(keep)
    mesh.remove_unreferenced_vertices()
    return mesh


def _decimate(mesh: trimesh.Trimesh, keep: float) -> tuple[trimesh.Trimesh, float]:
    closed = mesh.is_watertight
    while keep < 1:
        target = max(4, round(len(mesh.faces) * keep))
        simple = _clean(mesh.simplify_quadric_decimation(face_count=target))
        if not closed or simple.is_watertight:
            if simple.volume < 0:
                simple.invert()
            return simple, len(simple.faces) / len(mesh.faces)
        keep *= 1.5
    return mesh, 1.0


def _format(path: Path) -> str:
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in MESH_FORMATS:
        raise ConfigError(
            f"cannot write a mesh to {path}: the suffix must be one of "
            f"{', '.join('.' + f for f in MESH_FORMATS)}"
        )
    return fmt


def _plain(mesh: trimesh.Trimesh, scale: float = 1.0) -> trimesh.Trimesh:
    # geometry only: no cached normals in OBJ, no metadata in glTF extras
    return trimesh.Trimesh(mesh.vertices * scale, mesh.faces, process=False)


def _glb(named: Mapping[str, trimesh.Trimesh]) -> bytes:
    scene = trimesh.Scene()
    for name, mesh in named.items():
        scene.add_geometry(_plain(mesh, _METRES_PER_UM), node_name=name, geom_name=name)

    def state_unit(tree: dict[str, Any]) -> None:
        tree["asset"]["extras"] = dict(GLTF_UNIT)

    return bytes(scene.export(file_type="glb", tree_postprocessor=state_unit))


def _header(path: Path) -> list[str]:
    return [f"volseg mesh {path.stem}", *_UNIT_LINES]


def _with_ply_comments(data: bytes, lines: Sequence[str]) -> bytes:
    # trimesh's PLY exporter takes no comments: add them after the "format" line
    head, sep, rest = data.partition(b"\n")  # "ply"
    fmt, sep2, rest = rest.partition(b"\n")
    comments = b"".join(f"comment {line}\n".encode("ascii", "replace") for line in lines)
    return head + sep + fmt + sep2 + comments + rest


def _with_stl_header(data: bytes, lines: Sequence[str]) -> bytes:
    # binary STL: 80 free bytes, then the face count; text there must not begin "solid".
    # The unit goes first so that a long name cannot push it out.
    text = "; ".join([lines[1], lines[0]]).encode("ascii", "replace")[:_STL_HEADER]
    return text.ljust(_STL_HEADER, b" ") + data[_STL_HEADER:]


def _write(geometry: trimesh.Trimesh | trimesh.Scene, path: Path, fmt: str) -> None:
    lines = _header(path)
    if fmt == "obj":  # the header is written after "# " at the top
        geometry.export(path, file_type="obj", header="\n# ".join(lines))
    elif fmt == "ply":
        path.write_bytes(_with_ply_comments(trimesh.exchange.ply.export_ply(geometry), lines))
    else:
        path.write_bytes(_with_stl_header(trimesh.exchange.stl.export_stl(geometry), lines))


def write_mesh(mesh: trimesh.Trimesh, path: str | Path) -> Path:
    """Write one mesh; the format follows the suffix (.ply, .obj, .stl binary; .glb).

    PLY, OBJ and STL hold the vertices in µm (x, y, z of the volume, voxel index × voxel
    size) and say so in their header: PLY ``comment`` lines, OBJ ``#`` lines, the 80-byte
    text header of binary STL. A GLB holds one node named after the file's stem, with the
    vertices in metres, glTF's unit (µm × 1e-6), so Blender and web viewers show the true
    size; its ``asset.extras`` is :data:`GLTF_UNIT`.
    """
    path = Path(path)
    fmt = _format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "glb":
        path.write_bytes(_glb({path.stem: mesh}))
    else:
        _write(_plain(mesh), path, fmt)
    return path


def write_scene(meshes: Mapping[int, trimesh.Trimesh], path: str | Path) -> Path:
    """Write all objects into one file, with units as :func:`write_mesh` writes them.

    GLB and OBJ keep one named part per object (a scene node / an ``o`` group called
    ``object_<id>``); PLY and STL hold the concatenated meshes.

    Raises
    ------
    InputError
        If ``meshes`` is empty.
    """
    path = Path(path)
    fmt = _format(path)
    if not meshes:
        raise InputError(f"no meshes to write into {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    named = {f"object_{int(i)}": m for i, m in meshes.items()}
    if fmt == "glb":
        path.write_bytes(_glb(named))
    elif fmt == "obj":
        scene = trimesh.Scene()
        for name, mesh in named.items():
            scene.add_geometry(_plain(mesh), node_name=name, geom_name=name)
        _write(scene, path, fmt)
    else:
        joined = trimesh.util.concatenate([_plain(m) for m in meshes.values()])
        _write(joined, path, fmt)  # type: ignore[arg-type]  # a list of meshes joins into one
    return path
