"""``ct`` mode: per-slice parallel-beam acquisition and filtered back-projection.

Each slice: project the (PSF-blurred) attenuation map over the FOV circle, draw Poisson
counts with a generator seeded by (seed, z), apply the detector gain errors that flat-field
correction leaves (rings), take −log, ramp-filter and back-project. Slices are independent,
so any z split of full-slice boxes gives the same bytes.
"""

from __future__ import annotations

import math

import numpy as np

from volseg.phantom import _kernels as K
from volseg.phantom._scene import Scene
from volseg.phantom._tissue import OUTSIDE_VALUE

__all__ = ["reconstruct_slices"]

_POISSON_STREAM = 5


def reconstruct_slices(scene: Scene, mu: np.ndarray, z0: int) -> np.ndarray:
    """Simulated reconstructions (float32, image units) of full slices ``mu`` starting at ``z0``.

    ``mu`` is (z, Y, X) in image units, the clean slices after the PSF. Pixels outside the
    field-of-view circle are ``OUTSIDE_VALUE``.
    """
    det = scene.detector
    k = det.mu_scale
    nz, ny, nx = mu.shape
    n_ang = len(det.cos_t)
    yy, xx = np.ogrid[:ny, :nx]
    outside = (yy - det.fov[0]) ** 2 + (xx - det.fov[1]) ** 2 > det.fov[2] ** 2
    out = np.empty(mu.shape, np.float32)
    rec = np.empty((ny, nx), np.float64)
    for i in range(nz):
        z = z0 + i
        sino = np.zeros((n_ang, det.n_det))
        K.forward_project(mu[i], 0, 0, det.fov, det.cos_t, det.sin_t, float(det.s_off), sino)
        p = sino * k
        if math.isfinite(det.photons):
            rng = np.random.default_rng([scene.config.seed, _POISSON_STREAM, z])
            counts = rng.poisson(det.photons * np.exp(-p))
            p = -np.log(np.maximum(counts, 0.5) / det.photons)
        p += det.ring_offsets(z)[None, :]
        K.back_project(det.ramp(p), 0, 0, det.fov, det.cos_t, det.sin_t, float(det.s_off), rec)
        slice_ = rec / k
        slice_[outside] = OUTSIDE_VALUE
        out[i] = slice_
    return out
