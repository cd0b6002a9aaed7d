"""numba kernels of the metrics: confusion counts, inner boundaries, bounded-radius matching.

All kernels are exact integer counts. They run in parallel over rows (``prange``) and keep
one small partial result per row, so the sums never depend on the thread schedule. None
allocates anything the size of the image except the boundary masks themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numba
import numpy as np
from numba import njit, prange

# elements per parallel chunk: enough work to amortize scheduling
_CHUNK = 1 << 16
# below this many voxels, waking the thread pool costs more than the work (and on a busy
# machine a parallel region waits for every thread to get a core: milliseconds)
PARALLEL_MIN = 1 << 16


@contextmanager
def threads_for(size: int) -> Iterator[None]:
    """Run the kernels called inside on one thread when ``size`` voxels is small work.

    ``numba.set_num_threads`` is per calling thread, so this is safe under dask threads.
    """
    if size >= PARALLEL_MIN:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


@njit(cache=True, nogil=True, parallel=True)
def confusion_counts(gt, pred, num_classes, n_parts):
    """Confusion counts of two flat label arrays; returns (table, number of bad voxels).

    ``table[g, p]`` counts voxels with ground truth ``g`` and prediction ``p``. Voxels whose
    label is outside ``[0, num_classes)`` are not counted; their number is returned instead
    so the caller can raise (the kernel never indexes out of range). The arrays are split
    into ``n_parts`` contiguous parts, each with its own table (memory: n_parts x classes²).
    """
    n = gt.size
    tables = np.zeros((n_parts, num_classes, num_classes), dtype=np.int64)
    bad = np.zeros(n_parts, dtype=np.int64)
    for c in prange(n_parts):
        start = (n * c) // n_parts
        stop = (n * (c + 1)) // n_parts
        nbad = 0
        for i in range(start, stop):
            g = np.int64(gt[i])
            p = np.int64(pred[i])
            if 0 <= g < num_classes and 0 <= p < num_classes:
                tables[c, g, p] += 1
            else:
                nbad += 1
        bad[c] = nbad
    table = np.zeros((num_classes, num_classes), dtype=np.int64)
    for c in range(n_parts):
        table += tables[c]
    return table, bad.sum()


@njit(cache=True, nogil=True, parallel=True)
def equal_count(a, b):
    """Number of positions where the flat arrays ``a`` and ``b`` hold the same value."""
    n = a.size
    n_chunks = (n + _CHUNK - 1) // _CHUNK
    counts = np.zeros(n_chunks, dtype=np.int64)
    for c in prange(n_chunks):
        start = c * _CHUNK
        stop = min(start + _CHUNK, n)
        k = 0
        for i in range(start, stop):
            if a[i] == b[i]:
                k += 1
        counts[c] = k
    return counts.sum()


@njit(cache=True, nogil=True, parallel=True)
def class_overlap(pred, gt, cls):
    """(|P ∩ G|, |P ∪ G|) of the masks ``pred == cls`` and ``gt == cls`` (flat arrays)."""
    n = pred.size
    n_chunks = (n + _CHUNK - 1) // _CHUNK
    inter = np.zeros(n_chunks, dtype=np.int64)
    union = np.zeros(n_chunks, dtype=np.int64)
    for c in prange(n_chunks):
        start = c * _CHUNK
        stop = min(start + _CHUNK, n)
        k_i = 0
        k_u = 0
        for i in range(start, stop):
            p = pred[i] == cls
            g = gt[i] == cls
            if p and g:
                k_i += 1
            if p or g:
                k_u += 1
        inter[c] = k_i
        union[c] = k_u
    return inter.sum(), union.sum()


@njit(cache=True, nogil=True, parallel=True)
def boundary_2d(mask):
    """Inner 4-connected boundary: ``mask`` minus its erosion by the 3x3 cross.

    Outside the image counts as background, so foreground on the image edge is boundary.
    """
    ny, nx = mask.shape
    out = np.zeros((ny, nx), dtype=np.bool_)
    for y in prange(ny):
        for x in range(nx):
            if not mask[y, x]:
                continue
            if (
                y == 0
                or x == 0
                or y == ny - 1
                or x == nx - 1
                or not mask[y - 1, x]
                or not mask[y + 1, x]
                or not mask[y, x - 1]
                or not mask[y, x + 1]
            ):
                out[y, x] = True
    return out


@njit(cache=True, nogil=True, parallel=True)
def boundary_3d(mask):
    """Inner 6-connected boundary: ``mask`` minus its erosion by the 3x3x3 cross.

    Outside the array counts as background. Parallel over (z, y) rows so thin slabs of a
    few slices still use every thread.
    """
    nz, ny, nx = mask.shape
    out = np.zeros((nz, ny, nx), dtype=np.bool_)
    for r in prange(nz * ny):
        z = r // ny
        y = r - z * ny
        for x in range(nx):
            if not mask[z, y, x]:
                continue
            if (
                z == 0
                or y == 0
                or x == 0
                or z == nz - 1
                or y == ny - 1
                or x == nx - 1
                or not mask[z - 1, y, x]
                or not mask[z + 1, y, x]
                or not mask[z, y - 1, x]
                or not mask[z, y + 1, x]
                or not mask[z, y, x - 1]
                or not mask[z, y, x + 1]
            ):
                out[z, y, x] = True
    return out


@njit(cache=True, nogil=True, parallel=True)
def match_counts(source, target, rows, z0, z1):
    """Count boundary voxels of ``source`` (z in [z0, z1)) and how many have a match.

    A voxel at (z, y, x) is matched when ``target`` is set at (z + dz, y + dy, x + dx) for
    a row (dz, dy, m) of ``rows`` (int64, shape (k, 3)) and some |dx| <= m: the tolerance
    ball as x-runs, scanned as contiguous memory, nearest row first so most matches stop
    early. Parts of the ball outside the array are skipped. Returns (matched, total).
    """
    nz, ny, nx = source.shape
    n_rows_st = rows.shape[0]
    n_rows = max(z1 - z0, 0) * ny
    matched = np.zeros(n_rows, dtype=np.int64)
    total = np.zeros(n_rows, dtype=np.int64)
    for r in prange(n_rows):
        z = z0 + r // ny
        y = r % ny
        k_m = 0
        k_t = 0
        for x in range(nx):
            if not source[z, y, x]:
                continue
            k_t += 1
            found = False
            for k in range(n_rows_st):
                zz = z + rows[k, 0]
                yy = y + rows[k, 1]
                if zz < 0 or zz >= nz or yy < 0 or yy >= ny:
                    continue
                lo = max(x - rows[k, 2], 0)
                hi = min(x + rows[k, 2] + 1, nx)
                for xx in range(lo, hi):
                    if target[zz, yy, xx]:
                        found = True
                        break
                if found:
                    break
            if found:
                k_m += 1
        matched[r] = k_m
        total[r] = k_t
    return matched.sum(), total.sum()
