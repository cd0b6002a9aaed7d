"""Centre-line skeletons of labelled objects: trees of nodes in µm (x, y, z) with radii."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi
from scipy import sparse
from scipy.sparse import csgraph
from skimage.morphology import skeletonize

from volseg.errors import InputError
from volseg.reconstruct._sampling import DEFAULT_MAX_VOXELS, SampledMask, sample_mask

__all__ = ["Skeleton", "object_skeleton", "skeleton_sampled"]

# one half of the 26-neighbourhood: every neighbour pair is found once
_HALF_26 = np.array(
    [
        (dz, dy, dx)
        for dz in (-1, 0, 1)
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if (dz, dy, dx) > (0, 0, 0)
    ]
)


@dataclass(frozen=True, eq=False)
class Skeleton:
    """A forest of skeleton nodes; every parent comes before its children.

    Attributes
    ----------
    nodes : (n, 3) float ndarray
        Node positions in µm, (x, y, z) order.
    radii : (n,) float ndarray
        Distance in µm from each node to the nearest background voxel centre.
    parents : (n,) int ndarray
        Index of each node's parent, -1 for the root of each tree.
    downsample_factor : (z, y, x)
        The factor the object was downsampled by before skeletonization.
    n_branch_points : int
        Junctions: groups of adjacent nodes with three or more neighbours (a junction drawn
        as two touching degree-3 nodes counts once).
    length_um : float
        Total length of all tree edges.
    """

    nodes: np.ndarray
    radii: np.ndarray
    parents: np.ndarray
    downsample_factor: tuple[int, int, int] = (1, 1, 1)
    n_branch_points: int = field(init=False)
    length_um: float = field(init=False)

    def __post_init__(self) -> None:
        nodes = np.asarray(self.nodes, dtype=np.float64).reshape(-1, 3)
        radii = np.asarray(self.radii, dtype=np.float64).reshape(-1)
        parents = np.asarray(self.parents, dtype=np.int64).reshape(-1)
        n = len(nodes)
        if len(radii) != n or len(parents) != n:
            raise InputError(
                f"Skeleton needs as many radii ({len(radii)}) and parents ({len(parents)}) "
                f"as nodes ({n})"
            )
        if np.any(parents >= np.arange(n)) or np.any(parents < -1):
            raise InputError("Skeleton parents must precede their children (or be -1 for roots)")
        object.__setattr__(self, "nodes", nodes)
        object.__setattr__(self, "radii", radii)
        object.__setattr__(self, "parents", parents)
        child = np.flatnonzero(parents >= 0)
        steps = nodes[child] - nodes[parents[child]]
        object.__setattr__(self, "length_um", float(np.linalg.norm(steps, axis=1).sum()))
        object.__setattr__(self, "n_branch_points", _branch_points(parents))

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def n_trees(self) -> int:
        return int(np.count_nonzero(self.parents < 0))

    @property
    def end_points(self) -> np.ndarray:
        """Indices of the nodes with exactly one neighbour (free ends, roots included)."""
        return np.flatnonzero(_degree(self.parents) == 1)

    def trees(self) -> list[Skeleton]:
        """Each tree as its own skeleton, in the order of their roots."""
        if self.n_trees <= 1:
            return [self]
        tree = np.zeros(len(self), dtype=np.int64)
        roots = self.parents < 0
        tree[roots] = np.arange(self.n_trees)
        for i in np.flatnonzero(~roots):  # parents come first: their tree is known
            tree[i] = tree[self.parents[i]]
        return [self._subset(np.flatnonzero(tree == t)) for t in range(self.n_trees)]

    def rerooted(self, root: int) -> Skeleton:
        """The same tree with node ``root`` as its root (index 0), ordered breadth-first.

        Raises
        ------
        InputError
            If the skeleton is not one tree or ``root`` is not one of its nodes.
        """
        if self.n_trees != 1 or not 0 <= root < len(self):
            raise InputError(
                f"cannot re-root a skeleton of {self.n_trees} trees and {len(self)} nodes at "
                f"node {root}: it needs one tree holding that node (split it with .trees())"
            )
        child = np.flatnonzero(self.parents >= 0)
        n = len(self)
        graph = sparse.coo_matrix(
            (np.ones(len(child)), (child, self.parents[child])), shape=(n, n)
        ).tocsr()
        order, pred = csgraph.breadth_first_order(graph, root, directed=False)
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        parent = pred[order]
        return Skeleton(
            self.nodes[order],
            self.radii[order],
            np.where(parent >= 0, rank[np.maximum(parent, 0)], -1),
            self.downsample_factor,
        )

    def _subset(self, keep: np.ndarray) -> Skeleton:
        # ``keep``: ascending indices closed under "parent of", so parents still come first
        index = np.full(len(self), -1, dtype=np.int64)
        index[keep] = np.arange(len(keep))
        parents = self.parents[keep]
        new_parents = np.where(parents >= 0, index[np.maximum(parents, 0)], -1)
        return Skeleton(self.nodes[keep], self.radii[keep], new_parents, self.downsample_factor)


def _degree(parents: np.ndarray) -> np.ndarray:
    child = np.flatnonzero(parents >= 0)
    return np.bincount(parents[child], minlength=len(parents)) + (parents >= 0)


def _branch_points(parents: np.ndarray) -> int:
    child = np.flatnonzero(parents >= 0)
    junction = _degree(parents) >= 3
    # count clusters of junction nodes joined by a tree edge
    joined = child[junction[child] & junction[parents[child]]]
    return int(np.count_nonzero(junction)) - len(joined)


def object_skeleton(
    mask: np.ndarray,
    *,
    voxel_size: Sequence[float],
    origin_index: Sequence[float] = (0, 0, 0),
    max_voxels: int = DEFAULT_MAX_VOXELS,
) -> Skeleton:
    """The centre-line skeleton of a binary object, as trees of nodes in µm (x, y, z).

    Parameters
    ----------
    mask : (Z, Y, X) bool ndarray
        The object; ``mask[0, 0, 0]`` is voxel ``origin_index`` of the volume.
    voxel_size : (dz, dy, dx)
        Voxel size in µm. Voxel index ``i`` lies at ``i × voxel_size`` (its centre).
    origin_index : (z, y, x)
        Offset of the mask (a crop) in the volume, in voxels.
    max_voxels : int
        Masks larger than this are skeletonized block-any downsampled; the factor is
        recorded in :attr:`Skeleton.downsample_factor`.

    Returns
    -------
    Skeleton
        One node per skeleton voxel (Lee's 3-D thinning, which shortens each free end by
        up to the local radius counted in voxels, so more in µm along a coarse axis); a
        piece of the mask that thinning erases (a small compact blob) keeps its innermost
        voxel, so every 26-connected piece has at least one node. Radii are the Euclidean
        distance transform, in µm, of the padded mask, so the crop border counts as
        background. Each connected piece is one
        tree: the minimum spanning tree of the 26-neighbour graph weighted by µm distance
        (which drops the diagonal shortcuts of staircases and breaks cycles), rooted at its
        lowest-index end node (the lowest-index node for a closed loop) and ordered
        breadth-first. An empty mask gives an empty skeleton.
    """
    sampled = sample_mask(
        mask, voxel_size=voxel_size, origin_index=origin_index, max_voxels=max_voxels
    )
    return skeleton_sampled(sampled)


def skeleton_sampled(sampled: SampledMask, distance: np.ndarray | None = None) -> Skeleton:
    """:func:`object_skeleton` of an already placed (and possibly downsampled) mask;
    ``distance``: its Euclidean distance transform in µm, if already computed."""
    padded = np.pad(sampled.mask, 1)
    thin = skeletonize(padded)
    padded_distance = None if distance is None else np.pad(distance, 1)
    _keep_every_piece(padded, thin, sampled.voxel_size, padded_distance)
    voxels = np.argwhere(thin)  # lexicographic (z, y, x): lowest index first
    del thin
    if len(voxels) == 0:
        empty = np.zeros((0, 3))
        return Skeleton(empty, np.zeros(0), np.zeros(0, int), sampled.factor)
    if padded_distance is None:
        padded_distance = ndi.distance_transform_edt(padded, sampling=sampled.voxel_size)
    radii = padded_distance[tuple(voxels.T)]
    del distance, padded
    spacing = np.asarray(sampled.voxel_size)
    order, parents = _forest(voxels, spacing)
    zyx = (voxels[order] - 1) * spacing + np.asarray(sampled.origin_um)
    return Skeleton(zyx[:, ::-1], radii[order], parents, sampled.factor)


def _keep_every_piece(
    mask: np.ndarray,
    thin: np.ndarray,
    voxel_size: tuple[float, float, float],
    distance: np.ndarray | None = None,
) -> None:
    """Add the innermost voxel of each piece of ``mask`` that thinning erased entirely.

    Lee's thinning can delete small compact pieces (a 2×2×2 cube) altogether; an object
    should not lose a piece from its skeleton for being small.
    """
    pieces, n = ndi.label(mask, structure=np.ones((3, 3, 3)))
    kept = np.zeros(n + 1, dtype=bool)
    kept[pieces[thin]] = True
    for index, box in enumerate(ndi.find_objects(pieces), start=1):
        if box is None or kept[index]:
            continue
        if distance is not None:  # the mask's distance is the piece's: pieces do not touch
            inner = np.where(pieces[box] == index, distance[box], -1.0)
            at = np.unravel_index(np.argmax(inner), inner.shape)
            thin[tuple(int(a) + b.start for a, b in zip(at, box, strict=True))] = True
            continue
        local = np.pad(pieces[box] == index, 1)
        inner = ndi.distance_transform_edt(local, sampling=voxel_size)
        at = np.unravel_index(np.argmax(inner), inner.shape)
        thin[tuple(int(a) - 1 + b.start for a, b in zip(at, box, strict=True))] = True


def _forest(voxels: np.ndarray, spacing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Breadth-first order of ``voxels`` and each ordered node's parent (-1 for roots)."""
    n = len(voxels)
    dims = voxels.max(axis=0) + 2
    linear = np.ravel_multi_index(tuple(voxels.T), tuple(dims))  # sorted, as voxels are
    rows, cols, weights = [], [], []
    for offset in _HALF_26:
        target = np.ravel_multi_index(tuple((voxels + offset).T), tuple(dims))
        pos = np.minimum(np.searchsorted(linear, target), n - 1)
        hit = linear[pos] == target
        rows.append(np.flatnonzero(hit))
        cols.append(pos[hit])
        weights.append(np.full(int(hit.sum()), np.linalg.norm(offset * spacing)))
    graph = sparse.coo_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    ).tocsr()
    tree = csgraph.minimum_spanning_tree(graph)
    tree = (tree + tree.T).tocsr()
    degree = np.diff(tree.indptr)
    n_pieces, piece = csgraph.connected_components(tree, directed=False)
    # pieces are numbered by their lowest node; a stable sort keeps members ascending
    grouped = np.argsort(piece, kind="stable")
    bounds = np.cumsum(np.bincount(piece, minlength=n_pieces))[:-1]
    order_parts, parent_parts = [], []
    done = 0
    for members in np.split(grouped, bounds):
        sub = tree[members][:, members]
        ends = np.flatnonzero(degree[members] == 1)
        root = int(ends[0]) if len(ends) else 0
        local, pred = csgraph.breadth_first_order(sub, root, directed=False)
        rank = np.empty(len(members), dtype=np.int64)
        rank[local] = np.arange(len(local)) + done
        parent = pred[local]
        order_parts.append(members[local])
        parent_parts.append(np.where(parent >= 0, rank[np.maximum(parent, 0)], -1))
        done += len(members)
    return np.concatenate(order_parts), np.concatenate(parent_parts)
