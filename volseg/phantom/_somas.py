"""Somas: non-overlapping ellipsoids packed into the cord until a volume fraction is reached."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from volseg.phantom import _kernels as K
from volseg.phantom._config import PhantomConfig
from volseg.phantom._cord import CordModel, classify
from volseg.phantom._vessels import Vessels, vessel_samples

__all__ = ["Somas", "draw_somas", "soma_diameters"]

_GAP = 2.0  # px kept free between somas, and between somas and vessels
_BATCH = 4096
_MAX_BATCHES = 200


@dataclass(frozen=True, eq=False)
class Somas:
    """Ellipsoids ``|inv @ (p - centre)| <= 1`` (p in z, y, x) and their nuclei.

    ``semi`` are the semi-axes, ``lo``/``hi`` half-open integer bounding boxes, ``nuc_off`` the
    nucleus centre offset and ``nuc_scale`` its size relative to the soma (0: no nucleus),
    ``grey`` whether the centre lies in grey matter.
    """

    centre: np.ndarray
    semi: np.ndarray
    inv: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    nuc_off: np.ndarray
    nuc_scale: np.ndarray
    grey: np.ndarray

    def __len__(self) -> int:
        return len(self.centre)

    @property
    def diameter(self) -> np.ndarray:
        """Equivalent-sphere diameter of each soma."""
        return 2.0 * np.cbrt(self.semi.prod(axis=1))

    @property
    def volume(self) -> np.ndarray:
        return 4.0 / 3.0 * np.pi * self.semi.prod(axis=1)


def soma_diameters(
    rng: np.random.Generator, n: int, *, median: float, bounds: tuple[float, float]
) -> np.ndarray:
    """Log-normal (σ = 0.6) equivalent diameters clipped to ``bounds``: many small, few large."""
    return np.clip(median * np.exp(rng.normal(0.0, 0.6, n)), *bounds)


def _slab_fraction(cz: np.ndarray, hz: np.ndarray, nz: int) -> np.ndarray:
    """Fraction of an ellipsoid's volume between the volume's first and last z planes."""
    t0 = np.clip((-0.5 - cz) / hz, -1, 1)
    t1 = np.clip((nz - 0.5 - cz) / hz, -1, 1)
    f = lambda t: 0.75 * (t - t**3 / 3)  # noqa: E731
    return f(t1) - f(t0)


def draw_somas(
    config: PhantomConfig,
    cord: CordModel,
    vessels: Vessels,
    rng: np.random.Generator,
    *,
    target_volume: float,
) -> Somas:
    """Pack somas into the cord by rejection until their volume reaches ``target_volume``.

    Candidates are rejected outside the cord (with a margin), in white matter with
    probability 1 - 1/``grey_density_ratio``, near vessels and near placed somas (bounding
    spheres plus a gap, so ellipsoids never overlap). Placement is sequential in draw order.
    """
    nz = config.shape[0]
    lo_d, hi_d = config.soma_diameter_range
    hi_d = max(min(hi_d, 0.3 * config.fov_diameter), lo_d + 0.5)
    median = min(config.soma_median_diameter, hi_d)
    vpts, vrad = vessel_samples(vessels)
    vtree = cKDTree(vpts) if len(vpts) else None
    vr_max = float(vrad.max()) if len(vrad) else 0.0
    cell = hi_d * 1.3 + _GAP  # ≥ the largest sum of two bounding radii + gap
    grid: dict[tuple[int, int, int], list[int]] = {}
    centres: list[tuple[float, float, float]] = []
    bounds: list[float] = []
    keep: list[tuple[np.ndarray, ...]] = []
    cy, cx, reach = cord.base[0], cord.base[1], cord.base[2] * 1.2 + 0.02 * config.fov_diameter
    placed = 0.0
    # stop once the smallest soma would overshoot more than it fills
    enough = target_volume - np.pi / 12 * lo_d**3

    for _ in range(_MAX_BATCHES):
        if placed >= enough:
            break
        c = np.column_stack(
            [
                rng.uniform(0, nz, _BATCH),
                rng.uniform(cy - reach, cy + reach, _BATCH),
                rng.uniform(cx - reach, cx + reach, _BATCH),
            ]
        )
        d = soma_diameters(rng, _BATCH, median=median, bounds=(lo_d, hi_d))
        f = rng.uniform(0.85, 1.15, (_BATCH, 3))
        semi = 0.5 * d[:, None] * f / np.cbrt(f.prod(axis=1))[:, None]
        rot = Rotation.random(_BATCH, random_state=rng).as_matrix()  # (n, 3, 3)
        nuc_scale = rng.uniform(0.35, 0.5, _BATCH) if config.nuclei else np.zeros(_BATCH)
        u = rng.normal(size=(_BATCH, 3))
        u *= (rng.uniform(0, 0.5, _BATCH) * (1 - nuc_scale) / np.linalg.norm(u, axis=1))[:, None]
        accept_u = rng.uniform(size=_BATCH)

        bound = semi.max(axis=1)
        codes, r, rc = classify(cord, c)
        ok = (codes == K.WHITE) | (codes == K.GREY)
        ok &= r + bound < 0.97 * rc
        ok &= (codes == K.GREY) | (accept_u < 1.0 / config.grey_density_ratio)
        if vtree is not None:
            near = vtree.query_ball_point(c, bound + vr_max + _GAP)
            for i in np.flatnonzero(ok):
                idx = near[i]
                if idx:
                    dist = np.linalg.norm(vpts[idx] - c[i], axis=1)
                    if np.any(dist < bound[i] + vrad[idx] + _GAP):
                        ok[i] = False

        half = np.sqrt(((rot * semi[:, None, :]) ** 2).sum(axis=2))  # bbox half-extent
        inside = _slab_fraction(c[:, 0], half[:, 0], nz) * 4.0 / 3.0 * np.pi * semi.prod(axis=1)
        for i in np.flatnonzero(ok):
            ci = (float(c[i, 0]), float(c[i, 1]), float(c[i, 2]))
            bi = float(bound[i])
            key = (int(ci[0] // cell), int(ci[1] // cell), int(ci[2] // cell))
            if placed + 0.5 * inside[i] > target_volume or _collides(
                grid, centres, bounds, ci, bi, key
            ):
                continue
            grid.setdefault(key, []).append(len(centres))
            centres.append(ci)
            bounds.append(bi)
            keep.append((c[i], semi[i], rot[i], half[i], u[i], nuc_scale[i], codes[i]))
            placed += float(inside[i])
            if placed >= enough:
                break
    return _pack(keep, config.nuclei)


def _collides(grid, centres, bounds, ci, bi, key) -> bool:  # type: ignore[no-untyped-def]
    for a in (-1, 0, 1):
        for b in (-1, 0, 1):
            for e in (-1, 0, 1):
                for j in grid.get((key[0] + a, key[1] + b, key[2] + e), ()):
                    cj = centres[j]
                    lim = bi + bounds[j] + _GAP
                    dz, dy, dx = ci[0] - cj[0], ci[1] - cj[1], ci[2] - cj[2]
                    if dz * dz + dy * dy + dx * dx < lim * lim:
                        return True
    return False


def _pack(keep: list[tuple[np.ndarray, ...]], nuclei: bool) -> Somas:
    n = len(keep)
    if n == 0:
        z3, z33 = np.zeros((0, 3)), np.zeros((0, 3, 3))
        zi = np.zeros((0, 3), np.int64)
        return Somas(z3, z3, z33, zi, zi, z3, np.zeros(0), np.zeros(0, bool))
    centre = np.array([k[0] for k in keep])
    semi = np.array([k[1] for k in keep])
    rot = np.array([k[2] for k in keep])
    half = np.array([k[3] for k in keep])
    u = np.array([k[4] for k in keep])
    nuc_scale = np.array([k[5] for k in keep]) if nuclei else np.zeros(n)
    grey = np.array([k[6] == K.GREY for k in keep])
    inv = (rot / semi[:, None, :]).transpose(0, 2, 1)  # diag(1/a) @ R.T
    nuc_off = np.einsum("nij,nj->ni", rot * semi[:, None, :], u)
    lo = np.floor(centre - half).astype(np.int64)
    hi = np.ceil(centre + half).astype(np.int64) + 1
    return Somas(
        centre,
        semi,
        np.ascontiguousarray(inv),
        lo,
        hi,
        nuc_off,
        nuc_scale,
        grey,
    )
