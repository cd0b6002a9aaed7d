"""Render any box of the phantom: clean rasterization, then the fast or the CT image model."""

from __future__ import annotations

import math

import numpy as np

from volseg.errors import GeometryError
from volseg.geometry import Box
from volseg.phantom import _kernels as K
from volseg.phantom._config import PhantomConfig
from volseg.phantom._ct import reconstruct_slices
from volseg.phantom._detector import PROFILE_STEP, stream_key
from volseg.phantom._scene import Scene
from volseg.phantom._tissue import OUTSIDE_VALUE, TISSUE_VALUES

__all__ = ["render", "render_halo", "render_tissue"]

DOG_SIGMAS = (0.6, 1.8)  # band-pass of the noise: FBP noise lacks low frequencies
_LABEL_OF_TISSUE = np.array([0, 0, 0, 0, 0, 1, 1, 2], np.uint8)
_TEXTURE_STREAM, _NOISE_STREAM = 1, 2


def _radius(sigma: float) -> int:
    return math.ceil(4.0 * sigma) if sigma > 0 else 0


def gaussian_weights(sigma: float) -> np.ndarray:
    """Normalized gaussian taps on ``[-⌈4σ⌉, ⌈4σ⌉]`` (``[1.0]`` for σ = 0)."""
    r = _radius(sigma)
    if r == 0:
        return np.ones(1)
    x = np.arange(-r, r + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def _dog_norm() -> float:
    """1 / std of white noise after the difference of gaussians (exact, from the taps)."""
    g1, g2 = (gaussian_weights(s) for s in DOG_SIGMAS)
    pad = (len(g2) - len(g1)) // 2
    g1 = np.pad(g1, pad)
    k2 = np.outer(g1, g1) - np.outer(g2, g2)
    return 1.0 / math.sqrt(float((k2 * k2).sum()))


_DOG_NORM = np.float32(_dog_norm())


def render_halo(config: PhantomConfig) -> int:
    """The y/x margin (px) the renderer reads around a box: the widest filter's support."""
    return max(_radius(config.psf_sigma), *(_radius(s) for s in DOG_SIGMAS))


def _check_box(config: PhantomConfig, box: Box) -> None:
    if box.ndim != 3:
        raise GeometryError(f"render needs a 3D (z, y, x) box, got {box}")
    if not Box.from_shape(config.shape).contains(box):
        raise GeometryError(
            f"box {box} is not inside the phantom volume of shape {config.shape}; "
            "clip it with box.clip(Box.from_shape(config.shape))"
        )


def _clean(scene: Scene, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Clean image values (float32) and tissue codes (uint8) of ``box`` (may exceed the volume)."""
    cfg, det = scene.config, scene.detector
    (z0, y0, x0), z1 = box.start, box.stop[0]
    mu = np.empty(box.shape, np.float32)
    tissue = np.empty(box.shape, np.uint8)
    if box.empty:
        return mu, tissue
    params = scene.cord.params(z0, z1)
    K.paint_background(
        mu,
        tissue,
        z0,
        y0,
        x0,
        params,
        K.GREY_ELLIPSES,
        det.fov,
        TISSUE_VALUES,
        stream_key(cfg.seed, _TEXTURE_STREAM),
        cfg.texture,
    )
    start, stop = np.array(box.start), np.array(box.stop)
    s = scene.somas
    idx = np.flatnonzero(np.all(s.lo < stop, axis=1) & np.all(s.hi > start, axis=1))
    if len(idx):
        K.paint_somas(
            mu,
            tissue,
            z0,
            y0,
            x0,
            idx,
            s.centre,
            s.inv,
            s.lo,
            s.hi,
            s.nuc_off,
            s.nuc_scale,
            TISSUE_VALUES,
        )
    v = scene.vessels
    idx = np.flatnonzero(np.all(v.lo < stop, axis=1) & np.all(v.hi > start, axis=1))
    if len(idx):
        K.paint_vessels(
            mu, tissue, z0, y0, x0, idx, v.p0, v.p1, v.r0, v.r1, v.lo, v.hi, TISSUE_VALUES
        )
    return mu, tissue


def render_tissue(scene: Scene, box: Box) -> np.ndarray:
    """Tissue codes (uint8, see ``TISSUE_NAMES``) of ``box``: the richer ground truth.

    Raises
    ------
    GeometryError
        If ``box`` is not a 3D box inside the volume.
    """
    _check_box(scene.config, box)
    return _clean(scene, box)[1]


def _filtered(src: np.ndarray, sigma: float, halo: int) -> np.ndarray:
    """Gaussian filter of every slice of ``src`` (a box grown by ``halo``), cropped back."""
    r = _radius(sigma)
    nz, ny, nx = src.shape
    out = np.empty((nz, ny - 2 * halo, nx - 2 * halo), np.float32)
    cut = halo - r
    K.separable_valid(src[:, cut : ny - cut, cut : nx - cut], gaussian_weights(sigma), out)
    return out


def _fast(scene: Scene, box: Box, mu: np.ndarray, halo: int) -> np.ndarray:
    cfg, det = scene.config, scene.detector
    (z0, y0, x0), (z1, _, _) = box.start, box.stop
    blurred = _filtered(mu, cfg.psf_sigma, halo)
    white = np.empty(mu.shape, np.float32)
    K.hash_normal(white, stream_key(cfg.seed, _NOISE_STREAM), z0, y0 - halo, x0 - halo)
    noise = _filtered(white, DOG_SIGMAS[0], halo)
    noise -= _filtered(white, DOG_SIGMAS[1], halo)
    noise *= _DOG_NORM
    rings = np.array([det.ring_profile(z) for z in range(z0, z1)]).reshape(z1 - z0, -1)
    out = np.empty(box.shape, np.float32)
    K.compose(
        out, blurred, noise, det.noise_std, rings, PROFILE_STEP, y0, x0, det.fov, OUTSIDE_VALUE
    )
    return out


def _to_dtype(image: np.ndarray, config: PhantomConfig) -> np.ndarray:
    if config.dtype == "float32":
        return image.astype(np.float32, copy=False)
    top = np.iinfo(config.dtype).max
    lo, hi = config.image_range
    scaled = (image.astype(np.float64) - lo) * (top / (hi - lo))
    return np.clip(np.rint(scaled), 0, top).astype(config.dtype)


def render(scene: Scene, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Render the image and the labels of ``box`` (z, y, x).

    The result is bit-identical whatever boxes a volume is split into: objects are
    rasterized analytically, noise comes from a hash of (seed, z, y, x), filters read a halo
    of :func:`render_halo` px, and ``ct`` mode reconstructs whole slices and crops them.

    Parameters
    ----------
    scene
        From :func:`draw_scene`.
    box
        A 3D box inside the volume. In ``ct`` mode prefer full-slice boxes: every slice the
        box touches is simulated whole (time O(slice), whatever the box's y/x size).

    Returns
    -------
    image : ndarray
        ``config.dtype``, shape ``box.shape``. Integer dtypes map ``config.image_range`` to
        0 … max (clipped); float32 holds image units (white matter ≈ 0.5, soma ≈ 0.8).
        Outside the circular field of view the image is the constant ``OUTSIDE_VALUE``.
    labels : ndarray
        uint8, shape ``box.shape``: 0 background, 1 soma (nucleus included), 2 vessel.

    Raises
    ------
    GeometryError
        If ``box`` is not a 3D box inside the volume.
    """
    cfg = scene.config
    _check_box(cfg, box)
    if box.empty:
        return np.zeros(box.shape, np.dtype(cfg.dtype)), np.zeros(box.shape, np.uint8)
    halo = render_halo(cfg)
    if cfg.mode == "fast":
        mu, tissue = _clean(scene, box.grow((0, halo, halo)))
        image = _fast(scene, box, mu, halo)
        tissue = tissue[:, halo:-halo, halo:-halo] if halo else tissue
    else:
        z0, z1 = box.start[0], box.stop[0]
        full = Box((z0, -halo, -halo), (z1, cfg.shape[1] + halo, cfg.shape[2] + halo))
        mu, tissue = _clean(scene, full)
        image = reconstruct_slices(scene, _filtered(mu, cfg.psf_sigma, halo), z0)
        inner = (slice(None), *box.slices[1:])
        image = image[inner]
        tissue = (tissue[:, halo:-halo, halo:-halo] if halo else tissue)[inner]
    return _to_dtype(image, cfg), _LABEL_OF_TISSUE[tissue]
