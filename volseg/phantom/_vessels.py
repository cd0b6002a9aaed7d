"""Blood vessels: tortuous, branching tubes stored as chains of rounded-cone segments."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from volseg.phantom import _kernels as K
from volseg.phantom._config import PhantomConfig
from volseg.phantom._cord import CordModel, cord_areas

__all__ = ["Vessels", "draw_vessels", "vessel_samples"]


@dataclass(frozen=True, eq=False)
class Vessels:
    """Segments ``p0 → p1`` (z, y, x) with end radii ``r0``, ``r1``; ``vessel`` is the tube id.

    ``lo``/``hi`` are the half-open integer bounding boxes used to pick segments per box.
    """

    p0: np.ndarray
    p1: np.ndarray
    r0: np.ndarray
    r1: np.ndarray
    vessel: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    def __len__(self) -> int:
        return len(self.r0)


class _Walker:
    """Draws one tube as a smooth 3D random walk that stays inside the cord."""

    def __init__(self, cord: CordModel, z_lo: int, z_hi: int, r_range: tuple[float, float]):
        self.table = cord.params(z_lo, z_hi + 1)
        self.z_lo, self.z_hi = z_lo, z_hi
        self.r_range = r_range

    def rel_radius(self, pos: np.ndarray) -> tuple[float, np.ndarray]:
        zi = min(max(round(pos[0]), self.z_lo), self.z_hi) - self.z_lo
        p = self.table[zi]
        dy, dx = pos[1] - p[0], pos[2] - p[1]
        r = math.hypot(dy, dx)
        outward = np.array([0.0, dy, dx]) / max(r, 1e-9)
        return r / K.cord_radius(dy, dx, p), outward

    def walk(
        self,
        rng: np.random.Generator,
        start: np.ndarray,
        direction: np.ndarray,
        radius: float,
        *,
        step: float,
        n_steps: int,
        pull: np.ndarray,
        wiggle: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        pos, d, r = start.astype(float), direction / np.linalg.norm(direction), radius
        pts, rads = [pos.copy()], [r]
        for _ in range(n_steps):
            rel, outward = self.rel_radius(pos)
            d = d + wiggle * rng.normal(size=3) + pull
            if rel > 0.8:  # steer back towards the cord centre
                d -= (rel - 0.8) * 4.0 * outward
            d /= np.linalg.norm(d)
            pos = pos + step * d
            r = float(np.clip(r * math.exp(rng.normal(0.0, 0.03)), *self.r_range))
            pts.append(pos.copy())
            rads.append(r)
            if not self.z_lo <= pos[0] <= self.z_hi or self.rel_radius(pos)[0] > 0.97:
                break
        return np.array(pts), np.array(rads)


def draw_vessels(config: PhantomConfig, cord: CordModel, rng: np.random.Generator) -> Vessels:
    """Draw trunks along z, oblique branches leaving them, and a few radial vessels."""
    nz = config.shape[0]
    d_fov = config.fov_diameter
    lo_d, hi_d = config.vessel_diameter_range
    hi_d = max(min(hi_d, 0.15 * d_fov), lo_d + 0.5)  # small test volumes cannot hold 40 px
    r_min, r_max = lo_d / 2, hi_d / 2
    margin = math.ceil(r_max + 10)
    walker = _Walker(cord, -margin, nz + margin, (r_min, r_max))
    area = float(cord_areas(cord, 1)[0])
    n_trunks = max(2, round(config.vessel_density * area / 1e6))
    up = np.array([1.0, 0.0, 0.0])
    tubes: list[tuple[np.ndarray, np.ndarray]] = []

    base = cord.params(0, 1)[0]
    for _ in range(n_trunks):
        rr = cord.base[2] * 0.75 * math.sqrt(rng.uniform())
        ang = rng.uniform(0, 2 * math.pi)
        start = np.array([-margin, base[0] + rr * math.sin(ang), base[1] + rr * math.cos(ang)])
        radius = math.exp(rng.uniform(math.log(max(r_min, min(5.0, r_max))), math.log(r_max)))
        n_steps = int((nz + 2 * margin) / 6) + 8
        tubes.append(
            walker.walk(
                rng,
                start,
                up + rng.normal(0, 0.15, 3),
                radius,
                step=8.0,
                n_steps=n_steps,
                pull=0.06 * up,
                wiggle=0.07,
            )
        )

    # branches leave trunk nodes at a steep angle, then relax towards the z axis
    trunks = list(tubes)
    for pts, rads in trunks:
        length = float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())
        n_branch = rng.poisson(config.branch_rate * length / 1000.0)
        for _ in range(n_branch):
            i = int(rng.integers(len(pts)))
            sign = 1.0 if rng.uniform() < 0.5 else -1.0
            tilt = rng.uniform(0.7, 1.2)
            ang = rng.uniform(0, 2 * math.pi)
            direction = np.array(
                [
                    sign * math.cos(tilt),
                    math.sin(tilt) * math.sin(ang),
                    math.sin(tilt) * math.cos(ang),
                ]
            )
            radius = max(r_min, rads[i] * rng.uniform(0.5, 0.8))
            n_steps = int(rng.uniform(60, 400) / 4)
            tubes.append(
                walker.walk(
                    rng,
                    pts[i],
                    direction,
                    radius,
                    step=4.0,
                    n_steps=n_steps,
                    pull=0.04 * sign * up,
                    wiggle=0.05,
                )
            )

    # radial vessels entering from the cord surface: the oblique, in-plane ones
    n_radial = max(1, round(n_trunks * nz / 1000))
    for _ in range(n_radial):
        z = rng.uniform(0, nz)
        p = cord.params(int(z), int(z) + 1)[0]
        ang = rng.uniform(0, 2 * math.pi)
        rc = K.cord_radius(math.sin(ang), math.cos(ang), p) * 0.93
        start = np.array([z, p[0] + rc * math.sin(ang), p[1] + rc * math.cos(ang)])
        direction = np.array([rng.uniform(-0.3, 0.3), -math.sin(ang), -math.cos(ang)])
        n_steps = int(rng.uniform(0.3, 0.7) * p[2] / 4)
        tubes.append(
            walker.walk(
                rng,
                start,
                direction,
                r_min * rng.uniform(1.0, 1.6),
                step=4.0,
                n_steps=n_steps,
                pull=np.zeros(3),
                wiggle=0.04,
            )
        )

    return _segments(tubes)


def _segments(tubes: list[tuple[np.ndarray, np.ndarray]]) -> Vessels:
    p0 = np.concatenate([t[0][:-1] for t in tubes])
    p1 = np.concatenate([t[0][1:] for t in tubes])
    r0 = np.concatenate([t[1][:-1] for t in tubes])
    r1 = np.concatenate([t[1][1:] for t in tubes])
    vessel = np.concatenate([np.full(len(t[1]) - 1, i, np.int32) for i, t in enumerate(tubes)])
    rmax = np.maximum(r0, r1)[:, None]
    lo = np.floor(np.minimum(p0, p1) - rmax).astype(np.int64)
    hi = np.ceil(np.maximum(p0, p1) + rmax).astype(np.int64) + 1
    return Vessels(p0, p1, r0, r1, vessel, lo, hi)


def vessel_samples(vessels: Vessels, spacing: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Points along every centreline (at most ``spacing`` apart) and the radius there."""
    length = np.linalg.norm(vessels.p1 - vessels.p0, axis=1)
    counts = np.ceil(length / spacing).astype(np.int64) + 1
    seg = np.repeat(np.arange(len(vessels)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    t = (np.arange(counts.sum()) - first) / np.maximum(counts[seg] - 1, 1)
    pts = vessels.p0[seg] + t[:, None] * (vessels.p1[seg] - vessels.p0[seg])
    rad = vessels.r0[seg] + t * (vessels.r1[seg] - vessels.r0[seg])
    return pts, rad
