"""3D reconstruction of segmented volumes: objects, object tables, meshes and skeletons.

:func:`reconstruct` does it all: :func:`reconstruct_components` splits the voxels of some
classes of a segmented store into objects (3D connected components, computed block by block
on a dask cluster with ids that do not depend on the blocks) and writes them with a table
of measurements; :func:`export_objects` meshes them (PLY, OBJ, STL in µm, GLB in metres)
and skeletonizes the elongated ones (SWC, one tree per file).

Every option of a reconstruction is one frozen, validated config
(:class:`ReconstructConfig`; the objects' part :class:`ComponentsConfig`), given whole or
as keyword options, and stored with the output.

Examples
--------
>>> result = reconstruct("seg.zarr", "objects", min_voxels=50)  # doctest: +SKIP
>>> import pandas as pd  # doctest: +SKIP
>>> pd.read_parquet(result.components.parquet).head()  # doctest: +SKIP
"""

from volseg.reconstruct._components import (
    Components,
    find_components,
    id_dtype,
    write_components,
)
from volseg.reconstruct._config import ComponentsConfig, ReconstructConfig
from volseg.reconstruct._export import ExportResult, export_objects
from volseg.reconstruct._mesh import object_mesh, write_mesh, write_scene
from volseg.reconstruct._options import (
    CONNECTIVITIES,
    DEFAULT_FORMATS,
    MESH_FORMATS,
    SKELETON_MODES,
    BorderPolicy,
    Connectivity,
    MeshFormat,
    SkeletonMode,
)
from volseg.reconstruct._output import OBJECTS_CSV, OBJECTS_PARQUET, OBJECTS_STORE
from volseg.reconstruct._pipeline import ReconstructResult, reconstruct
from volseg.reconstruct._precomputed import (
    PRECOMPUTED_DIR,
    PrecomputedResult,
    export_precomputed,
    precomputed_ids,
    read_precomputed_mesh,
    read_precomputed_skeleton,
    write_precomputed_mesh,
    write_precomputed_skeleton,
)
from volseg.reconstruct._reconstruct import ComponentsResult, reconstruct_components
from volseg.reconstruct._skeleton import Skeleton, object_skeleton
from volseg.reconstruct._swc import read_swc, write_swc
from volseg.reconstruct._table import COLUMNS, Moments, object_table
from volseg.reconstruct._unionfind import resolve_components

__all__ = [
    "COLUMNS",
    "CONNECTIVITIES",
    "DEFAULT_FORMATS",
    "MESH_FORMATS",
    "OBJECTS_CSV",
    "OBJECTS_PARQUET",
    "OBJECTS_STORE",
    "PRECOMPUTED_DIR",
    "SKELETON_MODES",
    "BorderPolicy",
    "Components",
    "ComponentsConfig",
    "ComponentsResult",
    "Connectivity",
    "ExportResult",
    "MeshFormat",
    "Moments",
    "PrecomputedResult",
    "ReconstructConfig",
    "ReconstructResult",
    "Skeleton",
    "SkeletonMode",
    "export_objects",
    "export_precomputed",
    "find_components",
    "id_dtype",
    "object_mesh",
    "object_skeleton",
    "object_table",
    "precomputed_ids",
    "read_precomputed_mesh",
    "read_precomputed_skeleton",
    "read_swc",
    "reconstruct",
    "reconstruct_components",
    "resolve_components",
    "write_components",
    "write_mesh",
    "write_precomputed_mesh",
    "write_precomputed_skeleton",
    "write_scene",
    "write_swc",
]
