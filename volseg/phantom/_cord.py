"""The cord cross-section: outline and grey-matter butterfly as smooth functions of z.

Each slice is described by a short parameter row (see ``P_*`` indices); every entry is a
base value plus two slow sinusoids in z, evaluated with scalar ``math`` so a slice's row is
bit-identical whichever z range it is computed with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from volseg.phantom import _kernels as K
from volseg.phantom._config import PhantomConfig

__all__ = ["CordModel", "classify", "cord_areas", "draw_cord"]

# parameter row layout (matches the kernels): centre y, centre x, mean radius,
# harmonics 2..5 (cos, sin), cos/sin of the dorsal orientation, grey-matter width,
# grey-matter height, dorsal-horn length
N_PARAMS = 16
_PHI = 11


@dataclass(frozen=True, eq=False)
class CordModel:
    """Slowly varying parameters of the cord outline and grey matter."""

    base: np.ndarray  # (N_PARAMS,)
    amp: np.ndarray  # (N_PARAMS, 2)
    period: np.ndarray  # (N_PARAMS, 2) in slices
    phase: np.ndarray  # (N_PARAMS, 2)

    def params(self, z_start: int, z_stop: int) -> np.ndarray:
        """Parameter rows (z_stop - z_start, N_PARAMS) of slices ``z_start .. z_stop - 1``."""
        out = np.empty((max(0, z_stop - z_start), N_PARAMS))
        base = self.base.tolist()
        amp, period, phase = self.amp.tolist(), self.period.tolist(), self.phase.tolist()
        for k, z in enumerate(range(z_start, z_stop)):
            row = [
                base[i]
                + sum(
                    amp[i][j] * math.sin(2.0 * math.pi * z / period[i][j] + phase[i][j])
                    for j in range(2)
                )
                for i in range(N_PARAMS)
            ]
            phi = row[_PHI]
            row[_PHI], row[_PHI + 1] = math.cos(phi), math.sin(phi)
            out[k] = row
        return out


def draw_cord(config: PhantomConfig, rng: np.random.Generator) -> CordModel:
    """Draw the cord outline (≈ 0.41 · min(Y, X) radius) and grey-matter shape."""
    _, ny, nx = config.shape
    d = float(config.fov_diameter)
    base = np.zeros(N_PARAMS)
    amp = np.zeros((N_PARAMS, 2))
    base[0] = (ny - 1) / 2 + rng.uniform(-0.01, 0.01) * d
    base[1] = (nx - 1) / 2 + rng.uniform(-0.01, 0.01) * d
    base[2] = 0.41 * d * rng.uniform(0.97, 1.0)
    ell, psi = rng.uniform(0.02, 0.05), rng.normal(0.0, 0.15)  # wider left-right
    base[3], base[4] = ell * math.cos(2 * psi), ell * math.sin(2 * psi)
    base[5:11] = rng.normal(0.0, 0.006, 6)
    base[_PHI] = rng.normal(0.0, 0.05)
    base[13] = rng.uniform(1.15, 1.3)
    base[14] = rng.uniform(1.1, 1.25)
    base[15] = rng.uniform(0.9, 1.1)
    amp[0:2] = 0.005 * d
    amp[2] = 0.01 * base[2]
    amp[3:11] = 0.003
    amp[_PHI] = 0.04
    amp[13:16] = 0.04
    amp *= rng.uniform(0.5, 1.0, amp.shape)
    period = rng.uniform(400.0, 2000.0, (N_PARAMS, 2))
    phase = rng.uniform(0.0, 2 * math.pi, (N_PARAMS, 2))
    return CordModel(base, amp, period, phase)


def classify(cord: CordModel, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tissue code (``_kernels.MEDIUM``/``WHITE``/``GREY``/``CANAL``) of points, their
    distance r from the cord centre and the cord radius r_cord in that direction.

    ``pts`` is (n, 3) float (z, y, x); z is rounded to its slice.
    """
    pts = np.ascontiguousarray(pts, dtype=np.float64)
    zi = np.rint(pts[:, 0]).astype(np.int64)
    if len(zi) == 0:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    z_lo = int(zi.min())
    table = cord.params(z_lo, int(zi.max()) + 1)
    params = np.ascontiguousarray(table[zi - z_lo])
    codes = np.empty(len(pts), np.int64)
    r = np.empty(len(pts))
    rc = np.empty(len(pts))
    K.classify_points(pts, params, K.GREY_ELLIPSES, codes, r, rc)
    return codes, r, rc


def cord_areas(cord: CordModel, n_slices: int, n_theta: int = 256) -> np.ndarray:
    """Cross-section area (px²) of the cord in each slice, ½ ∮ r(θ)² dθ."""
    params = cord.params(0, n_slices)
    theta = 2 * np.pi * np.arange(n_theta) / n_theta
    r = np.ones((n_slices, n_theta))
    for h in range(4):
        k = h + 2
        r += params[:, 3 + 2 * h, None] * np.cos(k * theta) + params[:, 4 + 2 * h, None] * np.sin(
            k * theta
        )
    r *= params[:, 2, None]
    return 0.5 * (r**2).mean(axis=1) * 2 * np.pi
