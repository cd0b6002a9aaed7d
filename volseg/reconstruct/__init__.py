"""3D reconstruction of segmented volumes: objects, object tables, meshes and skeletons.

:func:`reconstruct` does it all: :func:`reconstruct_components` splits the voxels of some
classes of a segmented store into objects (3D connected components, computed block by block
on a dask cluster with ids that do not depend on the blocks) and writes them with a table
of measurements; :func:`export_objects` meshes them (PLY, OBJ, STL in µm, GLB in metres)
and skeletonizes the elongated ones (SWC, one tree per file).

Examples
--------
>>> result = reconstruct("seg.zarr", "objects", min_voxels=50)  # doctest: +SKIP
>>> import pandas as pd  # doctest: +SKIP
>>> pd.read_parquet(result.components.parquet).head()  # doctest: +SKIP
"""

from volseg.reconstruct._blocks import Connectivity
from volseg.reconstruct._components import (
    Components,
    find_components,
    id_dtype,
    write_components,
)
from volseg.reconstruct._export import ExportResult, export_objects
from volseg.reconstruct._mesh import MESH_FORMATS, object_mesh, write_mesh, write_scene
from volseg.reconstruct._output import OBJECTS_CSV, OBJECTS_PARQUET, OBJECTS_STORE
from volseg.reconstruct._pipeline import DEFAULT_FORMATS, ReconstructResult, reconstruct
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
from volseg.reconstruct._reconstruct import BorderPolicy, ComponentsResult, reconstruct_components
from volseg.reconstruct._skeleton import Skeleton, object_skeleton
from volseg.reconstruct._swc import read_swc, write_swc
from volseg.reconstruct._table import COLUMNS, Moments, object_table
from volseg.reconstruct._unionfind import resolve_components

__all__ = [
    "COLUMNS",
    "DEFAULT_FORMATS",
    "MESH_FORMATS",
    "OBJECTS_CSV",
    "OBJECTS_PARQUET",
    "OBJECTS_STORE",
    "PRECOMPUTED_DIR",
    "BorderPolicy",
    "Components",
    "ComponentsResult",
    "Connectivity",
    "ExportResult",
    "Moments",
    "PrecomputedResult",
    "ReconstructResult",
    "Skeleton",
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
