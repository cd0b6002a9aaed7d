"""Neuroglancer *precomputed* meshes and skeletons of the objects, in nanometres.

Neuroglancer shows the meshes and skeletons of a segmentation layer's objects in its 3D
panel when the layer has a mesh or skeleton source beside its voxels. volseg writes both in
the precomputed formats (the neuroglancer repository's ``src/datasource/precomputed``):

- ``meshes/``: ``info`` ``{"@type": "neuroglancer_legacy_mesh"}`` (single resolution); per
  object ``<id>:0``, a manifest ``{"fragments": ["<id>.frag"]}``, and ``<id>.frag``: uint32
  vertex count, float32 (x, y, z) vertices, uint32 triangle indices, little-endian.
- ``skeletons/``: ``info`` ``{"@type": "neuroglancer_skeletons", "vertex_attributes":
  [radius]}``; per object ``<id>``: uint32 vertex count, uint32 edge count, float32 (x, y,
  z) vertices, uint32 edge pairs, float32 radius per vertex.

Both sources have neuroglancer's default coordinate space for them, x, y, z in nm, so the
vertices are volseg's µm positions × 1000 (a voxel centre at index × voxel size, which is
where neuroglancer puts an OME-Zarr voxel): they land on the label voxels without a
transform. The meshes and skeletons come from the files :func:`export_objects` wrote (read
back through trimesh, µm from PLY/STL/OBJ or metres from GLB, and
:func:`~volseg.reconstruct.read_swc`), one object at a time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from volseg.errors import CorruptInputError, InputError, InputNotFoundError
from volseg.reconstruct._export import ExportResult
from volseg.reconstruct._skeleton import Skeleton
from volseg.reconstruct._swc import read_swc

__all__ = [
    "PRECOMPUTED_DIR",
    "PrecomputedResult",
    "export_precomputed",
    "precomputed_ids",
    "read_precomputed_mesh",
    "read_precomputed_skeleton",
    "write_precomputed_mesh",
    "write_precomputed_skeleton",
]

#: Folder of a reconstruction holding ``<labels name>/meshes`` and ``<labels name>/skeletons``.
PRECOMPUTED_DIR = "precomputed"
MESH_INFO = {"@type": "neuroglancer_legacy_mesh"}
SKELETON_INFO = {
    "@type": "neuroglancer_skeletons",
    "vertex_attributes": [{"id": "radius", "data_type": "float32", "num_components": 1}],
}
_NM_PER_UM = 1000.0
# mesh files read back in this order of preference, with µm per unit of the file: PLY, STL
# and OBJ hold µm, GLB metres (glTF's unit)
_READ_ORDER = {"ply": 1.0, "stl": 1.0, "obj": 1.0, "glb": 1e6}


@dataclass(frozen=True)
class PrecomputedResult:
    """The precomputed ``meshes`` and ``skeletons`` folders (None where nothing was written)
    and the object ids each holds."""

    meshes: Path | None
    skeletons: Path | None
    mesh_ids: tuple[int, ...]
    skeleton_ids: tuple[int, ...]


def _write_info(folder: Path, info: Mapping[str, object]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "info").write_text(json.dumps(info, indent=2) + "\n")


def _check_id(object_id: int) -> int:
    if int(object_id) != object_id or object_id < 1:
        raise InputError(f"object ids are whole numbers >= 1 (0 is background), got {object_id}")
    return int(object_id)


def write_precomputed_mesh(
    folder: str | Path, object_id: int, vertices_um: np.ndarray, faces: np.ndarray
) -> Path:
    """Write one object's mesh (and the folder's ``info``) as a legacy precomputed mesh.

    Parameters
    ----------
    folder : path
        The ``meshes`` folder of a segmentation.
    object_id : int
        The object's label value (>= 1).
    vertices_um : (n, 3) float ndarray
        Vertex positions in µm, (x, y, z) order (as :func:`object_mesh` gives them).
    faces : (m, 3) int ndarray
        Triangles, indices into ``vertices_um``.

    Returns
    -------
    Path
        The fragment file ``<id>.frag``; its manifest is ``<id>:0``.
    """
    folder, object_id = Path(folder), _check_id(object_id)
    vertices = np.asarray(vertices_um, dtype=np.float64).reshape(-1, 3) * _NM_PER_UM
    faces = np.asarray(faces).reshape(-1, 3)
    if len(faces) and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise InputError(f"mesh of object {object_id}: a face indexes a missing vertex")
    _write_info(folder, MESH_INFO)
    fragment = folder / f"{object_id}.frag"
    with fragment.open("wb") as f:
        f.write(np.uint32(len(vertices)).astype("<u4").tobytes())
        f.write(vertices.astype("<f4").tobytes())
        f.write(faces.astype("<u4").tobytes())
    (folder / f"{object_id}:0").write_text(json.dumps({"fragments": [fragment.name]}))
    return fragment


def write_precomputed_skeleton(folder: str | Path, object_id: int, skeleton: Skeleton) -> Path:
    """Write one object's skeleton (and the folder's ``info``) as a precomputed skeleton.

    Vertices are the skeleton's nodes in nm, edges join each node to its parent, and the
    vertex attribute ``radius`` is the node radius in nm. Returns the file ``<id>``.
    """
    folder, object_id = Path(folder), _check_id(object_id)
    child = np.flatnonzero(skeleton.parents >= 0)
    edges = np.column_stack([skeleton.parents[child], child])
    _write_info(folder, SKELETON_INFO)
    path = folder / str(object_id)
    with path.open("wb") as f:
        f.write(np.array([len(skeleton), len(edges)], dtype="<u4").tobytes())
        f.write((skeleton.nodes * _NM_PER_UM).astype("<f4").tobytes())
        f.write(edges.astype("<u4").tobytes())
        f.write((skeleton.radii * _NM_PER_UM).astype("<f4").tobytes())
    return path


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise InputNotFoundError(f"no precomputed file {path}; run volseg reconstruct to write it")
    return path.read_bytes()


def read_precomputed_mesh(folder: str | Path, object_id: int) -> tuple[np.ndarray, np.ndarray]:
    """The vertices (nm, x-y-z, float32) and faces (uint32) of one object's precomputed mesh,
    all fragments of its manifest ``<id>:0`` joined."""
    folder = Path(folder)
    manifest = json.loads(_read(folder / f"{_check_id(object_id)}:0"))
    vertices, faces, offset = [], [], 0
    for name in manifest["fragments"]:
        data = _read(folder / name)
        n = int(np.frombuffer(data, "<u4", 1)[0])
        end = 4 + 12 * n
        if len(data) < end or (len(data) - end) % 12:
            raise CorruptInputError(f"{folder / name}: size {len(data)} does not fit {n} vertices")
        vertices.append(np.frombuffer(data, "<f4", 3 * n, 4).reshape(n, 3))
        faces.append(np.frombuffer(data, "<u4", offset=end).reshape(-1, 3) + offset)
        offset += n
    if not vertices:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint32)
    return np.concatenate(vertices), np.concatenate(faces).astype(np.uint32)


def read_precomputed_skeleton(
    folder: str | Path, object_id: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The vertices (nm, x-y-z), edges (pairs of vertex indices) and radii (nm) of one
    object's precomputed skeleton."""
    path = Path(folder) / str(_check_id(object_id))
    data = _read(path)
    n, m = (int(v) for v in np.frombuffer(data, "<u4", 2))
    if len(data) != 8 + 12 * n + 8 * m + 4 * n:
        raise CorruptInputError(f"{path}: size {len(data)} does not fit {n} vertices, {m} edges")
    vertices = np.frombuffer(data, "<f4", 3 * n, 8).reshape(n, 3)
    edges = np.frombuffer(data, "<u4", 2 * m, 8 + 12 * n).reshape(m, 2)
    radii = np.frombuffer(data, "<f4", n, 8 + 12 * n + 8 * m)
    return vertices, edges, radii


def precomputed_ids(folder: str | Path) -> list[int]:
    """The object ids a precomputed ``meshes`` or ``skeletons`` folder holds, ascending."""
    folder = Path(folder)
    if not (folder / "info").is_file():
        return []
    names = (p.name.removesuffix(":0") for p in folder.iterdir())
    return sorted(int(n) for n in names if n.isdigit())


def _load_mesh(files: Mapping[str, Path]) -> tuple[np.ndarray, np.ndarray]:
    fmt = next(f for f in _READ_ORDER if f in files)
    mesh = trimesh.load(files[fmt], force="mesh", process=False)
    if not isinstance(mesh, trimesh.Trimesh):  # pragma: no cover - force="mesh" gives one
        raise CorruptInputError(f"{files[fmt]} holds no triangle mesh")
    return np.asarray(mesh.vertices) * _READ_ORDER[fmt], np.asarray(mesh.faces)


def export_precomputed(export: ExportResult, folder: str | Path) -> PrecomputedResult:
    """Write the meshes and skeletons that :func:`export_objects` wrote as precomputed
    ``folder/meshes`` and ``folder/skeletons`` (read back one object at a time).

    Objects without a mesh or skeleton file are left out; a folder with no object is not
    created. The files are the source for ``volseg view`` (see :mod:`volseg.view`).
    """
    folder = Path(folder)
    meshes, skeletons = folder / "meshes", folder / "skeletons"
    for object_id, files in sorted(export.mesh_files.items()):
        if any(f in files for f in _READ_ORDER):
            write_precomputed_mesh(meshes, object_id, *_load_mesh(files))
    for object_id, path in sorted(export.skeleton_files.items()):
        write_precomputed_skeleton(skeletons, object_id, read_swc(path))
    mesh_ids, skeleton_ids = precomputed_ids(meshes), precomputed_ids(skeletons)
    return PrecomputedResult(
        meshes if mesh_ids else None,
        skeletons if skeleton_ids else None,
        tuple(mesh_ids),
        tuple(skeleton_ids),
    )
