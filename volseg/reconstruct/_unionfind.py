"""Union-find over provisional ids: merge the pieces of objects cut by block borders.

The kernels are numba-compiled (and cached) because the number of provisional ids and
pairs grows with the volume; everything else in the package is numpy.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from volseg.errors import InputError

IntArray = npt.NDArray[np.int64]


@numba.njit(cache=True)
def _find(parent: IntArray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression
        parent[i], i = root, parent[i]
    return root


@numba.njit(cache=True)
def _resolve(pairs: IntArray, keys: IntArray) -> tuple[IntArray, int]:
    n = keys.shape[0]
    parent = np.arange(n, dtype=np.int64)
    for k in range(pairs.shape[0]):
        a = _find(parent, pairs[k, 0])
        b = _find(parent, pairs[k, 1])
        if a < b:  # union by the smaller root: the result does not depend on pair order
            parent[b] = a
        elif b < a:
            parent[a] = b
    big = np.iinfo(np.int64).max
    root_key = np.full(n, big, dtype=np.int64)
    roots = np.empty(n, dtype=np.int64)
    for i in range(1, n):
        r = _find(parent, i)
        roots[i] = r
        if keys[i] < root_key[r]:
            root_key[r] = keys[i]
    # number the components 1..N in increasing key order
    candidates = np.flatnonzero(root_key != big)
    order = candidates[np.argsort(root_key[candidates], kind="mergesort")]
    final = np.zeros(n, dtype=np.int64)
    for rank in range(order.shape[0]):
        final[order[rank]] = rank + 1
    lut = np.zeros(n, dtype=np.int64)
    for i in range(1, n):
        lut[i] = final[roots[i]]
    return lut, order.shape[0]


def resolve_components(pairs: npt.ArrayLike, keys: npt.ArrayLike) -> tuple[IntArray, int]:
    """Merge provisional ids into components numbered in increasing ``keys`` order.

    Parameters
    ----------
    pairs
        ``(M, 2)`` provisional ids known to belong to one object (any order, duplicates
        allowed). Ids run from 1 to ``len(keys) - 1``.
    keys
        ``keys[i]`` orders provisional id ``i`` (index 0, the background, is ignored). Each
        component's key is the smallest key of its ids; keys must be distinct across
        components for the numbering to be unique (volseg uses each piece's first voxel in
        C order, so the numbering is the raster order of :func:`scipy.ndimage.label`).

    Returns
    -------
    lut, n
        ``lut[i]`` is the component (1..n) of provisional id ``i``; ``lut[0] == 0``.

    Examples
    --------
    >>> lut, n = resolve_components([[1, 3]], [0, 10, 5, 30])
    >>> lut.tolist(), n
    ([0, 2, 1, 2], 2)
    """
    p = np.ascontiguousarray(pairs, dtype=np.int64).reshape(-1, 2)
    k = np.ascontiguousarray(keys, dtype=np.int64)
    if k.ndim != 1 or k.shape[0] < 1:
        raise InputError("keys must be a 1D array with an entry for the background (index 0)")
    if p.size and (p.min() < 1 or p.max() >= k.shape[0]):
        raise InputError(f"pair ids must lie in 1..{k.shape[0] - 1}")
    lut, n = _resolve(p, k)
    return lut, int(n)
