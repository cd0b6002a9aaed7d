"""Split merged objects at their necks: distance-transform watershed, then merge by neck ratio.

A soma and a vessel are never in contact in the tissue, but a segmentation can join them
through a thin bridge of false foreground voxels; two somas likewise. Such a component
must not receive one class for both parts. Its distance transform has a peak in each part
and a low pass (the *neck*) between them, while the peaks along one tube or one blob are
joined by passes almost as high as the peaks. So:

1. markers: the h-maxima of the Euclidean distance transform (µm), ``h`` = one voxel;
2. watershed of the negated distance transform from those markers, inside the mask;
3. regions are merged, highest pass first, whenever the pass is at least ``neck_ratio``
   times the lower of the two regions' peaks — a pass that low is a neck, kept as a cut.

A tube that runs end-on into a blob has no neck (its ridge rises into the blob); it stays
one piece. See docs/classify.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import ndimage as ndi
from skimage.morphology import h_maxima
from skimage.segmentation import watershed

__all__ = ["DEFAULT_NECK_RATIO", "object_distance", "split_object"]

#: A pass below this fraction of the lower peak separates two regions.
DEFAULT_NECK_RATIO = 0.6


def split_object(
    mask: npt.NDArray[np.bool_],
    *,
    voxel_size: Sequence[float],
    neck_ratio: float = DEFAULT_NECK_RATIO,
    min_voxels: int = 27,
    distance: npt.NDArray[np.floating] | None = None,
) -> tuple[npt.NDArray[np.int32], int]:
    """Cut one object at its necks into pieces.

    Parameters
    ----------
    mask : (Z, Y, X) bool ndarray
        The object (one 26-connected component; other foreground is not in the mask).
    voxel_size : (dz, dy, dx)
        Voxel size in µm; distances are measured in µm.
    neck_ratio : float
        In (0, 1]: two regions stay apart when the highest pass between them is below
        ``neck_ratio`` × the lower of their distance-transform peaks (1 cuts at every pass
        lower than both peaks; small values cut only thin bridges).
    min_voxels : int
        Pieces smaller than this are merged into their neighbour with the highest pass.
    distance : (Z, Y, X) ndarray, optional
        :func:`object_distance` of ``mask``, if already computed.

    Returns
    -------
    pieces : (Z, Y, X) int32 ndarray
        ``1..n`` inside the mask, numbered by first voxel in C (z, y, x) order; 0 outside.
    n : int
        The number of pieces (0 for an empty mask, 1 when the object has no neck).
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return np.zeros(mask.shape, np.int32), 0
    sampling = tuple(float(v) for v in voxel_size)
    if distance is None:
        distance = object_distance(mask, sampling)
    markers, n = _markers(mask, distance, min(sampling))
    if n <= 1:
        return mask.astype(np.int32), 1
    regions = watershed(-distance, markers, mask=mask, connectivity=1)
    merged = _merge_at_passes(regions, n, distance, neck_ratio, min_voxels)
    return _raster_order(merged)


#: Above this many voxels, the markers (not the watershed) are found on every 2nd voxel.
_COARSE_MARKERS = 2**18


def _markers(
    mask: npt.NDArray[np.bool_], distance: npt.NDArray[np.floating], h: float
) -> tuple[npt.NDArray[np.int32], int]:
    """One marker per h-maximum of ``distance``. A large object's maxima are found on a
    2× coarser grid (a blob's or a tube's peak is many voxels wide; the cost is the
    morphological reconstruction over every voxel of the box); the watershed and the
    passes stay at full resolution."""
    if distance.size <= _COARSE_MARKERS:
        markers, n = ndi.label(h_maxima(distance, h) & mask, structure=np.ones((3, 3, 3)))
        return markers.astype(np.int32), int(n)
    coarse = distance[::2, ::2, ::2]
    found, n = ndi.label(h_maxima(coarse, h) & mask[::2, ::2, ::2], structure=np.ones((3, 3, 3)))
    markers = np.zeros(mask.shape, np.int32)
    markers[::2, ::2, ::2] = found
    return markers, int(n)


def object_distance(
    mask: npt.NDArray[np.bool_], voxel_size: Sequence[float]
) -> npt.NDArray[np.float64]:
    """The Euclidean distance (µm) from each voxel of ``mask`` to the nearest voxel outside
    it, the crop's edges counting as outside."""
    sampling = tuple(float(v) for v in voxel_size)
    padded = ndi.distance_transform_edt(np.pad(mask, 1), sampling=sampling)
    return np.asarray(padded[1:-1, 1:-1, 1:-1], dtype=np.float64)


def _passes(
    regions: npt.NDArray[np.integer], distance: npt.NDArray[np.floating]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Every pair of face-adjacent regions and the highest pass between them: the largest
    ``min(d[p], d[q])`` over neighbouring voxels ``p``, ``q`` of the two regions."""
    pairs, heights = [], []
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        a, b = regions[tuple(lo)], regions[tuple(hi)]
        cut = (a != b) & (a > 0) & (b > 0)
        if not cut.any():
            continue
        ra, rb = a[cut].astype(np.int64), b[cut].astype(np.int64)
        pairs.append(np.stack([np.minimum(ra, rb), np.maximum(ra, rb)], axis=1))
        heights.append(np.minimum(distance[tuple(lo)][cut], distance[tuple(hi)][cut]))
    if not pairs:
        return np.zeros((0, 2), np.int64), np.zeros(0)
    pair = np.concatenate(pairs)
    height = np.concatenate(heights)
    keys, inverse = np.unique(pair, axis=0, return_inverse=True)
    best = np.full(len(keys), -np.inf)
    np.maximum.at(best, inverse.ravel(), height)
    return keys, best


def _merge_at_passes(
    regions: npt.NDArray[np.int32],
    n: int,
    distance: npt.NDArray[np.floating],
    neck_ratio: float,
    min_voxels: int,
) -> npt.NDArray[np.int32]:
    pairs, heights = _passes(regions, distance)
    index = np.arange(n + 1)
    peak = np.zeros(n + 1)
    peak[1:] = ndi.maximum(distance, regions, index=np.arange(1, n + 1))
    size = np.bincount(regions.ravel(), minlength=n + 1).astype(np.int64)
    parent = index.copy()

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    def union(a: int, b: int) -> None:
        keep, drop = min(a, b), max(a, b)
        parent[drop] = keep
        peak[keep] = max(peak[keep], peak[drop])
        size[keep] += size[drop]

    # highest pass first (ties by region ids), so merges never depend on array order
    order = np.lexsort((pairs[:, 1], pairs[:, 0], -heights))
    for k in order:
        a, b = find(int(pairs[k, 0])), find(int(pairs[k, 1]))
        if a != b and heights[k] >= neck_ratio * min(peak[a], peak[b]):
            union(a, b)
    for k in order:  # crumbs left by noise join the neighbour with the highest pass
        a, b = find(int(pairs[k, 0])), find(int(pairs[k, 1]))
        if a != b and min(size[a], size[b]) < min_voxels:
            union(a, b)
    roots = np.array([find(i) for i in range(n + 1)])
    return roots[regions].astype(np.int32)


def _raster_order(labels: npt.NDArray[np.int32]) -> tuple[npt.NDArray[np.int32], int]:
    flat = labels.ravel()
    values, first = np.unique(flat, return_index=True)
    keep = values > 0
    values, first = values[keep], first[keep]
    lut = np.zeros(int(values.max()) + 1, np.int32)
    lut[values[np.argsort(first)]] = np.arange(1, len(values) + 1, dtype=np.int32)
    return lut[labels], len(values)
