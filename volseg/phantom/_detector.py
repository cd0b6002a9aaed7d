"""The imaging model shared by both modes: attenuation scale, photon count, ramp filter,
detector gain errors (rings) and the radial noise profile.

``ct`` mode applies it to simulated projections; ``fast`` mode uses what the same model
predicts for the reconstruction (linear in the gain errors, so the ring profile is exact up to
the angular sampling), so the two modes agree statistically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from volseg.phantom import _kernels as K
from volseg.phantom._config import PhantomConfig
from volseg.phantom._tissue import CORD_MEAN, MEDIUM

__all__ = ["Detector", "make_detector", "stream_key"]

P_CENTRE = 2.0  # typical line integral through the sample centre (≈ 14 % transmission)
PROFILE_STEP = 0.5  # px, radial sampling of the ring and noise profiles
DRIFT = 0.6  # amplitude of the slow z drift of the gain errors, relative to the fixed part
_NOISE_ANGLES = 64
_MASK64 = (1 << 64) - 1


def stream_key(seed: int, stream: int) -> np.uint64:
    """A 64-bit key of one random stream of a seed (splitmix64 in pure Python)."""
    x = (seed * 0x9E3779B97F4A7C15 + stream * 0xD1B54A32D192ED03 + 0x632BE59BD9B4E019) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return np.uint64(x ^ (x >> 31))


@dataclass(frozen=True, eq=False)
class Detector:
    """Derived calibration of the imaging model (a pure function of the config and cord).

    Gain errors of slice z are ``patterns[0] + Σ_j w_j(z) · patterns[j]`` (log-gain, image
    units); ``profiles`` are what each pattern reconstructs to along a radius.
    """

    mu_scale: float  # attenuation per pixel of one image unit
    photons: float  # incident photons per detector pixel (inf: no noise)
    gain: float  # FBP noise gain: reconstruction variance / projection variance
    s_off: int  # detector index of the rotation axis
    cos_t: np.ndarray
    sin_t: np.ndarray
    ramp_fft: np.ndarray
    n_fft: int
    fov: np.ndarray  # centre y, centre x, radius
    patterns: np.ndarray  # (3, n_det)
    profiles: np.ndarray  # (3, n_rho)
    drift: np.ndarray  # (2, 2): period, phase of the two drift modes
    noise_std: np.ndarray  # (n_rho,)

    @property
    def n_det(self) -> int:
        return int(self.patterns.shape[1])

    def ramp(self, sino: np.ndarray) -> np.ndarray:
        """Ramp-filter sinogram rows (linear convolution with the spatial Ram-Lak kernel)."""
        spec = np.fft.rfft(sino, n=self.n_fft, axis=-1) * self.ramp_fft
        return np.ascontiguousarray(np.fft.irfft(spec, n=self.n_fft, axis=-1)[..., : self.n_det])

    def _weights(self, z: int) -> tuple[float, float, float]:
        (p1, f1), (p2, f2) = self.drift.tolist()
        return (
            1.0,
            DRIFT * math.sin(2 * math.pi * z / p1 + f1),
            DRIFT * math.sin(2 * math.pi * z / p2 + f2),
        )

    def ring_offsets(self, z: int) -> np.ndarray:
        """Per-detector log-gain errors of slice ``z``, in line-integral units."""
        w = self._weights(z)
        out = w[0] * self.patterns[0] + w[1] * self.patterns[1] + w[2] * self.patterns[2]
        return out * self.mu_scale

    def ring_profile(self, z: int) -> np.ndarray:
        """Radial profile (image units) that the gain errors of slice ``z`` reconstruct to."""
        w = self._weights(z)
        return w[0] * self.profiles[0] + w[1] * self.profiles[1] + w[2] * self.profiles[2]


def make_detector(config: PhantomConfig, cord_radius: float, rng: np.random.Generator) -> Detector:
    """Derive the imaging model from the config and the mean cord radius."""
    _, ny, nx = config.shape
    radius = config.fov_diameter / 2
    s_off = math.ceil(radius) + 2
    n_det = 2 * s_off + 1
    n_fft = 1 << (2 * n_det - 1).bit_length()
    n_rho = math.ceil(radius / PROFILE_STEP) + 3
    h = np.zeros(n_det)
    h[0] = 0.25
    h[1::2] = -1.0 / (math.pi * np.arange(1, n_det, 2)) ** 2
    circ = np.zeros(n_fft)
    circ[:n_det] = h
    circ[n_fft - n_det + 1 :] = h[:0:-1]
    ramp_fft = np.fft.rfft(circ)
    n_ang = config.n_angles
    theta = np.pi * np.arange(n_ang) / n_ang
    cos_t = np.cos(theta)
    # variance of linearly interpolated, ramp-filtered white noise, averaged over positions
    s0 = 2 * float((h * h).sum()) - h[0] ** 2
    s1 = 2 * float((h[:-1] * h[1:]).sum())
    gain = math.pi**2 / n_ang * (2 / 3 * s0 + 1 / 3 * s1)
    mu_scale = P_CENTRE / (0.45 * config.fov_diameter)

    photons = math.inf
    noise_std = np.zeros(n_rho)
    if config.noise > 0:
        args = (cord_radius, radius, mu_scale, CORD_MEAN, MEDIUM)
        centre = np.zeros(1)
        K.noise_profile(*args, 1.0, _NOISE_ANGLES, 1.0, centre)  # sqrt(E_θ[exp p]) / k
        photons = gain * float(centre[0]) ** 2 / config.noise**2
        K.noise_profile(*args, gain / photons, _NOISE_ANGLES, PROFILE_STEP, noise_std)

    # gain errors: 5 % of detectors four times worse, plus two slow drift modes
    patterns = rng.normal(size=(3, n_det))
    patterns[0] *= np.where(rng.uniform(size=n_det) < 0.05, 4.0, 1.0)
    drift = np.column_stack([rng.uniform(300.0, 1200.0, 2), rng.uniform(0, 2 * math.pi, 2)])
    profiles = np.empty((3, n_rho))
    for j in range(3):
        q = np.fft.irfft(np.fft.rfft(patterns[j], n=n_fft) * ramp_fft, n=n_fft)[:n_det]
        K.ring_response(
            np.ascontiguousarray(q), float(s_off), cos_t, n_rho, PROFILE_STEP, profiles[j]
        )
    inside = slice(0, int(radius / PROFILE_STEP))
    mean_sq = [float(np.mean(p[inside] ** 2)) for p in profiles]
    rms = math.sqrt(mean_sq[0] + DRIFT**2 / 2 * (mean_sq[1] + mean_sq[2]))
    scale = config.rings / rms if rms > 0 else 0.0
    patterns *= scale
    profiles *= scale
    return Detector(
        mu_scale=mu_scale,
        photons=photons,
        gain=gain,
        s_off=s_off,
        cos_t=cos_t,
        sin_t=np.sin(theta),
        ramp_fft=ramp_fft,
        n_fft=n_fft,
        fov=np.array([(ny - 1) / 2, (nx - 1) / 2, radius]),
        patterns=patterns,
        profiles=profiles,
        drift=drift,
        noise_std=noise_std,
    )
