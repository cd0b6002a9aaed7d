"""The option types of reconstruction, each defined once: the configs, the signatures and
the checks (``typing.get_args``) use these, never a copy of their values."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "CONNECTIVITIES",
    "DEFAULT_FORMATS",
    "MESH_FORMATS",
    "SKELETON_MODES",
    "BorderPolicy",
    "Connectivity",
    "MeshFormat",
    "SkeletonMode",
]

#: Which voxels are neighbours: sharing a face (6), also an edge (18), also a corner (26),
#: as ``scipy.ndimage.generate_binary_structure(3, 1 | 2 | 3)``.
Connectivity = Literal[6, 18, 26]
CONNECTIVITIES: tuple[Connectivity, ...] = get_args(Connectivity)
#: Objects touching the volume's outer faces: kept (and marked) or dropped.
BorderPolicy = Literal["keep", "drop"]
#: Mesh file formats: PLY, OBJ, STL (µm) and GLB (metres).
MeshFormat = Literal["ply", "obj", "stl", "glb"]
MESH_FORMATS: tuple[MeshFormat, ...] = get_args(MeshFormat)
#: Which objects get a skeleton: the elongated ones, all, none.
SkeletonMode = Literal["elongated", "all", "none"]
SKELETON_MODES: tuple[SkeletonMode, ...] = get_args(SkeletonMode)
#: Mesh formats written by default: PLY per object (ParaView, Blender, MeshLab) and the
#: combined GLB scene (web viewers, Blender); OBJ and STL on request.
DEFAULT_FORMATS: tuple[MeshFormat, ...] = ("ply", "glb")
