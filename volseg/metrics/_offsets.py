"""Integer offsets within a tolerance ball: the search stencil of boundary matching.

Distances are computed exactly the way ``scipy.ndimage.distance_transform_edt`` computes
them (float64, ``sqrt(((dz*sz)**2 + (dy*sy)**2) + (dx*sx)**2)``), so "within tolerance"
means the same thing here and in the distance-transform reference, to the last bit.
"""

from __future__ import annotations

import math

import numpy as np

from volseg.errors import InputError

# more stencil points than this means a tolerance absurdly large for the voxel size
_MAX_OFFSETS = 1 << 24


def _within(d: float, tolerance: float, inclusive: bool) -> bool:
    return d <= tolerance if inclusive else d < tolerance


def axis_steps(step: float, tolerance: float, *, inclusive: bool = True) -> int:
    """Largest ``k ≥ 0`` with ``k * step`` within ``tolerance`` (≤, or < if not inclusive)."""
    ratio = tolerance / step
    if not ratio < 1e7:
        raise InputError(
            f"tolerance {tolerance} is {ratio:.3g} voxels of size {step}: too many to search; "
            "use a smaller tolerance or give the voxel size in the same unit as the tolerance"
        )
    k = max(math.floor(ratio) - 1, 0)
    while _within(math.sqrt((float(k + 1) * step) ** 2), tolerance, inclusive):
        k += 1
    while k > 0 and not _within(math.sqrt((float(k) * step) ** 2), tolerance, inclusive):
        k -= 1
    return k


def ball_offsets(
    tolerance: float, spacing: tuple[float, float, float], *, inclusive: bool
) -> np.ndarray:
    """Offsets (dz, dy, dx), int64 shape (k, 3), with distance < tolerance (≤ if inclusive).

    Sorted nearest first (then lexicographically, so the order is deterministic); the first
    row is always (0, 0, 0).
    """
    return _offsets(tolerance, spacing, [axis_steps(s, tolerance) for s in spacing], inclusive)


def planar_offsets(tolerance: float, *, inclusive: bool) -> np.ndarray:
    """2D offsets, as (0, dy, dx) rows, within ``tolerance`` pixels of unit spacing."""
    r = axis_steps(1.0, tolerance)
    return _offsets(tolerance, (1.0, 1.0, 1.0), [0, r, r], inclusive)


def _offsets(
    tolerance: float, spacing: tuple[float, float, float], radii: list[int], inclusive: bool
) -> np.ndarray:
    n = math.prod(2 * r + 1 for r in radii)
    if n > _MAX_OFFSETS:
        raise InputError(
            f"tolerance {tolerance} spans {radii} voxels along (z, y, x): too many to search; "
            "use a smaller tolerance or give the voxel size in the same unit as the tolerance"
        )
    axes = [np.arange(-r, r + 1, dtype=np.int64) for r in radii]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=0).reshape(3, -1)
    dt = grid.astype(np.float64) * np.asarray(spacing, dtype=np.float64)[:, None]
    np.multiply(dt, dt, dt)
    dist = np.sqrt(np.add.reduce(dt, axis=0))
    keep = dist <= tolerance if inclusive else dist < tolerance
    grid, dist = grid[:, keep], dist[keep]
    order = np.lexsort((grid[2], grid[1], grid[0], dist))
    return np.ascontiguousarray(grid[:, order].T)


def row_stencil(offsets: np.ndarray) -> np.ndarray:
    """The offsets as rows of x-runs: int64 (k, 3) of (dz, dy, m) meaning dx in [-m, m].

    Exact, since for fixed (dz, dy) the distance grows with |dx| and the set is symmetric:
    the offsets of a row are one run. Rows keep the nearest-first order of their centre.
    """
    rows: dict[tuple[int, int], int] = {}
    for dz, dy, dx in offsets.tolist():
        rows[dz, dy] = max(rows.get((dz, dy), 0), abs(dx))
    return np.array([(dz, dy, m) for (dz, dy), m in rows.items()], dtype=np.int64).reshape(-1, 3)
