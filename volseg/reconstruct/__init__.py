"""3D reconstruction of segmented volumes: connected components across blocks, object tables.

:func:`reconstruct_components` splits the voxels of some classes of a segmented store into
objects (3D connected components, computed block by block on a dask cluster with ids that
do not depend on the blocks) and writes them with a table of measurements.

Examples
--------
>>> result = reconstruct_components("seg.zarr", "objects", min_voxels=50)  # doctest: +SKIP
>>> import pandas as pd  # doctest: +SKIP
>>> pd.read_parquet(result.parquet).head()  # doctest: +SKIP
"""

from volseg.reconstruct._blocks import Connectivity
from volseg.reconstruct._components import (
    Components,
    find_components,
    id_dtype,
    write_components,
)
from volseg.reconstruct._output import OBJECTS_CSV, OBJECTS_PARQUET, OBJECTS_STORE
from volseg.reconstruct._reconstruct import BorderPolicy, ComponentsResult, reconstruct_components
from volseg.reconstruct._table import COLUMNS, Moments, object_table
from volseg.reconstruct._unionfind import resolve_components

__all__ = [
    "COLUMNS",
    "OBJECTS_CSV",
    "OBJECTS_PARQUET",
    "OBJECTS_STORE",
    "BorderPolicy",
    "Components",
    "ComponentsResult",
    "Connectivity",
    "Moments",
    "find_components",
    "id_dtype",
    "object_table",
    "reconstruct_components",
    "resolve_components",
    "write_components",
]
