"""SWC files of skeletons: one tree per file, ``n T x y z R P`` per node, as morphology tools
read them.

The format (Cannon et al. 1998; the NeuroMorpho.org standard) is read by navis, MorphIO and
NeuroM, NEURON's importers, Vaa3D, neuTube and neuroglancer. Ids are 1-based, the root comes
first with parent -1, every parent line comes before its children, positions and radii are
in µm. Node types: 0 undefined, 1 soma, 2 axon, 3 basal dendrite, 4 apical dendrite, 5 and up
custom; volseg writes 1 for somas, 7 ("custom: vessel") for vessels and 0 for anything else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from volseg.errors import ConfigError, CorruptInputError, InputError, InputNotFoundError
from volseg.reconstruct._skeleton import Skeleton

__all__ = ["SWC_TYPES", "SwcStructure", "read_swc", "soma_rooted", "swc_structure", "write_swc"]

#: What the objects of a file are: decides the node types and the root.
SwcStructure = Literal["soma", "vessel", "undefined"]
#: SWC node types: the standard ones, and the custom type volseg gives vessels.
SWC_TYPES: dict[str, int] = {
    "undefined": 0,
    "soma": 1,
    "axon": 2,
    "basal dendrite": 3,
    "apical dendrite": 4,
    "custom: vessel": 7,
}
_TYPES_LINE = ", ".join(f"{t} {name}" for name, t in SWC_TYPES.items())


def swc_structure(classes: Sequence[str] | None) -> SwcStructure:
    """The SWC structure of objects made of ``classes``: ``"soma"`` for somas alone,
    ``"vessel"`` for vessels alone, ``"undefined"`` otherwise (several or other classes)."""
    chosen = set(classes or ())
    return "soma" if chosen == {"soma"} else "vessel" if chosen == {"vessel"} else "undefined"


def soma_rooted(skeleton: Skeleton) -> Skeleton:
    """The tree of a soma: rooted at its widest node, the soma, which absorbs the centre line
    it encloses.

    The root is the node with the largest radius (the centre of the largest inscribed
    sphere; the first such node on ties). Nodes whose path to it stays inside that sphere
    are dropped; the nodes beyond hang from the root. A round soma becomes one node: a
    single-point soma with the radius of its inscribed sphere.

    Raises
    ------
    InputError
        If the skeleton is not one tree.
    """
    tree = skeleton.rerooted(int(np.argmax(skeleton.radii)) if len(skeleton) else 0)
    inside = np.linalg.norm(tree.nodes - tree.nodes[0], axis=1) <= tree.radii[0]
    absorbed = inside.copy()
    for i in range(1, len(tree)):  # parents come first: theirs is already known
        absorbed[i] = inside[i] and absorbed[tree.parents[i]]
    keep = np.flatnonzero(~absorbed)
    index = np.full(len(tree), 0, dtype=np.int64)  # an absorbed parent is the soma
    index[keep] = np.arange(1, len(keep) + 1)
    keep = np.concatenate([[0], keep])
    parents = np.concatenate([[-1], index[tree.parents[keep[1:]]]])
    return Skeleton(tree.nodes[keep], tree.radii[keep], parents, tree.downsample_factor)


def write_swc(
    skeleton: Skeleton,
    path: str | Path,
    *,
    structure: SwcStructure = "undefined",
    object_id: int | None = None,
    comments: Iterable[str] = (),
) -> Path:
    """Write one skeleton tree as an SWC file.

    Parameters
    ----------
    skeleton : Skeleton
        One tree with at least one node (split a forest with :meth:`Skeleton.trees`).
    path : path
        The ``.swc`` file to write (parents are created).
    structure : {"soma", "vessel", "undefined"}
        ``"soma"``: the tree is re-rooted at its widest node, the soma (type 1, with the
        radius of the largest inscribed sphere), which absorbs the centre line inside that
        sphere; the nodes beyond are type 0, and a round soma is a single-point soma.
        ``"vessel"``: every node type 7 ("custom: vessel"); ``"undefined"``: type 0.
        Other than for somas the root is the skeleton's own (an end node).
    object_id : int, optional
        Written in the header and in navis's ``# Meta:`` line (its ``id``).
    comments : iterable of str
        Extra header lines (source, run, ...), written after ``#``.

    Returns
    -------
    Path
        ``path``. Positions and radii are in µm, (x, y, z) order, 4 decimals. The header
        names the unit (``# units: micrometre``, and ``"units": "1 micrometer"`` in the
        ``# Meta:`` JSON line, which navis reads), the columns and the node types.

    Raises
    ------
    InputError
        If the skeleton is empty or holds several trees.
    ConfigError
        If ``structure`` is unknown.
    """
    if structure not in get_args(SwcStructure):
        raise ConfigError(f"structure must be one of {get_args(SwcStructure)}, got {structure!r}")
    if skeleton.n_trees != 1:
        raise InputError(
            f"an SWC file holds one tree; this skeleton has {skeleton.n_trees} trees "
            f"({len(skeleton)} nodes): write each of skeleton.trees() to its own file"
        )
    if structure == "soma":
        skeleton = soma_rooted(skeleton)
        types = np.full(len(skeleton), SWC_TYPES["undefined"])
        types[0] = SWC_TYPES["soma"]
    else:
        kind = "custom: vessel" if structure == "vessel" else "undefined"
        types = np.full(len(skeleton), SWC_TYPES[kind])
    meta: dict[str, object] = {} if object_id is None else {"id": int(object_id)}
    meta |= {"units": "1 micrometer", "structure": structure}
    name = "" if object_id is None else f" of object {int(object_id)}"
    lines = [
        f"# SWC skeleton{name} written by volseg",
        f"# Meta: {json.dumps(meta)}",
        "# units: micrometre (um); x, y, z = voxel index (x, y, z) * voxel size",
        "# columns: n T x y z R P (id, type, position, radius, parent id; -1 = root)",
        f"# types: {_TYPES_LINE}",
        f"# structure: {structure}",
        *(f"# {c}" for c in comments),
    ]
    n = len(skeleton)
    parents = np.where(skeleton.parents >= 0, skeleton.parents + 1, -1)
    table = np.column_stack([np.arange(1, n + 1), types, skeleton.nodes, skeleton.radii, parents])
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
