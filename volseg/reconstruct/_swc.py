"""SWC files of skeletons: ``n T x y z R P`` per node, one tree per root.

The format (Cannon et al. 1998; neuromorpho.org) is read by neuroglancer, Vaa3D, NEURON,
navis, ParaView plug-ins and Blender add-ons. Ids are 1-based, a root's parent is -1, and
every parent line comes before its children.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from volseg.errors import ConfigError, CorruptInputError, InputNotFoundError
from volseg.reconstruct._skeleton import Skeleton

__all__ = ["read_swc", "write_swc"]


def write_swc(
    skeletons: Mapping[int, Skeleton] | Skeleton,
    path: str | Path,
    *,
    structure_type: int = 0,
    comments: Iterable[str] = (),
) -> Path:
    """Write one skeleton, or several objects' skeletons into one file.

    Parameters
    ----------
    skeletons : Skeleton or mapping of object id to Skeleton
        With a mapping, the objects' trees follow each other in the mapping's order, their
        node ids continue, and a header line ``# object <id>: nodes <first>-<last>`` says
        which ids belong to which object (an object without nodes is listed as empty).
    path : path
        The ``.swc`` file to write (parents are created).
    structure_type : int
        SWC type ``T`` of every node: 0 undefined (the default), 3 dendrite, ... (≥ 0).
    comments : iterable of str
        Extra header lines (source, run, ...), written after ``#``.

    Returns
    -------
    Path
        ``path``. Positions and radii are in µm, (x, y, z) order, 4 decimals.
    """
    if structure_type < 0:
        raise ConfigError(f"structure_type must be an SWC type >= 0, got {structure_type}")
    named = {0: skeletons} if isinstance(skeletons, Skeleton) else dict(skeletons)
    lines = [
        "# SWC skeleton written by volseg",
        "# columns: n T x y z R P (id, type, position, radius, parent id; -1 = root)",
        "# units: micrometre (um); x, y, z = voxel index (x, y, z) * voxel size",
    ]
    lines += [f"# {c}" for c in comments]
    rows = []
    first = 1
    for object_id, skeleton in named.items():
        n = len(skeleton)
        if not isinstance(skeletons, Skeleton):
            span = f"nodes {first}-{first + n - 1}" if n else "empty"
            lines.append(f"# object {int(object_id)}: {span}")
        ids = np.arange(first, first + n)
        parents = np.where(skeleton.parents >= 0, skeleton.parents + first, -1)
        rows.append(
            np.column_stack(
                [ids, np.full(n, structure_type), skeleton.nodes, skeleton.radii, parents]
            )
        )
        first += n
    table = np.concatenate(rows) if rows else np.zeros((0, 7))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
        np.savetxt(f, table, fmt=["%d", "%d", "%.4f", "%.4f", "%.4f", "%.4f", "%d"])
    return path


def read_swc(path: str | Path) -> Skeleton:
    """Read an SWC file as one :class:`Skeleton` (all its trees; node types are dropped).

    Raises
    ------
    InputNotFoundError
        If ``path`` does not exist.
    CorruptInputError
        If a line is not 7 numbers, or a parent is missing or comes after its child.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"no SWC file at {path}")
    try:
        table = np.loadtxt(path, comments="#", ndmin=2, encoding="utf-8")
    except ValueError as exc:
        raise CorruptInputError(f"{path} is not an SWC file: {exc}") from exc
    if table.size == 0:
        return Skeleton(np.zeros((0, 3)), np.zeros(0), np.zeros(0, int))
    if table.shape[1] != 7:
        raise CorruptInputError(f"{path}: SWC lines have 7 columns, found {table.shape[1]}")
    ids = table[:, 0].astype(np.int64)
    index = {int(i): k for k, i in enumerate(ids)}
    if len(index) != len(ids):
        raise CorruptInputError(f"{path}: node ids repeat; each SWC line needs its own id")
    parents = np.full(len(ids), -1, dtype=np.int64)
    for k, p in enumerate(table[:, 6].astype(np.int64)):
        if p == -1:
            continue
        if index.get(int(p), k) >= k:
            raise CorruptInputError(
                f"{path}: node {ids[k]} has parent {p}, which is missing or comes after it"
            )
        parents[k] = index[int(p)]
    return Skeleton(table[:, 2:5], table[:, 5], parents)
