"""numba kernels of the phantom: counter-based hash noise, rasterization, filters, projections.

Every kernel computes each output voxel from global coordinates only, in a fixed order, so
the result never depends on the box it is asked for. All release the GIL.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S42 = np.uint64(42)
_S21 = np.uint64(21)
_S32 = np.uint64(32)
_S11 = np.uint64(11)
_LOW32 = np.uint64(0xFFFFFFFF)
_LOW16 = np.uint64(0xFFFF)
_S16 = np.uint64(16)
_S48 = np.uint64(48)
_OFF = 1 << 20  # coordinates in [-2**20, 2**20) pack into 21 bits each

# tissue codes (index into the intensity table)
AIR, MEDIUM, WHITE, GREY, CANAL, SOMA, NUCLEUS, VESSEL = 0, 1, 2, 3, 4, 5, 6, 7

# grey-matter ellipses in cord-normalized coordinates (u lateral, v dorsal):
# centre u, centre v, semi-axis along u, semi-axis along v, rotation, is-dorsal-horn
_ELL = np.array(
    [
        [0.0, 0.0, 0.30, 0.075, 0.0, 0.0],
        [0.17, 0.02, 0.13, 0.17, 0.0, 0.0],
        [-0.17, 0.02, 0.13, 0.17, 0.0, 0.0],
        [0.19, 0.33, 0.065, 0.30, -0.35, 1.0],
        [-0.19, 0.33, 0.065, 0.30, 0.35, 1.0],
        [0.25, -0.26, 0.17, 0.21, 0.3, 0.0],
        [-0.25, -0.26, 0.17, 0.21, -0.3, 0.0],
    ]
)
# kernel table: centre u, centre v, 1/a, 1/b, cos, sin, is-dorsal-horn, bounding half-size
GREY_ELLIPSES = np.column_stack(
    [
        _ELL[:, 0],
        _ELL[:, 1],
        1.0 / _ELL[:, 2],
        1.0 / _ELL[:, 3],
        np.cos(_ELL[:, 4]),
        np.sin(_ELL[:, 4]),
        _ELL[:, 5],
        np.maximum(_ELL[:, 2], _ELL[:, 3]) * 1.3,  # covers dorsal-horn length ≤ 1.3
    ]
)
CANAL_RADIUS = 0.025


@njit(cache=True, nogil=True)
def mix64(x):
    """splitmix64 finalizer: a bijective avalanche of a 64-bit word."""
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


@njit(cache=True, nogil=True)
def hash3(key, z, y, x):
    """64-bit hash of a stream key and integer coordinates (each in ±2**20)."""
    packed = (np.uint64(z + _OFF) << _S42) | (np.uint64(y + _OFF) << _S21) | np.uint64(x + _OFF)
    return mix64(mix64(packed ^ key) + key)


@njit(cache=True, nogil=True)
def uniform_of(h):
    """A uniform float in [0, 1) from a hash."""
    return float(h >> _S11) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def hash_normal(out, key, z0, y0, x0):
    """Fill ``out`` (z, y, x) with unit-variance noise of the global voxel coordinates.

    Irwin–Hall sum of the four 16-bit quarters of one hash (mean 0, variance 1, nearly
    gaussian): the renderer band-passes it anyway, and it costs a third of Box–Muller.
    """
    nz, ny, nx = out.shape
    scale = math.sqrt(3.0) / 65536.0
    for k in range(nz):
        for i in range(ny):
            for j in range(nx):
                h = hash3(key, z0 + k, y0 + i, x0 + j)
                s = (h & _LOW16) + ((h >> _S16) & _LOW16) + ((h >> _S32) & _LOW16) + (h >> _S48)
                out[k, i, j] = (float(s) + 2.0) * scale - 2.0 * math.sqrt(3.0)


@njit(cache=True, nogil=True)
def separable_valid(src, w, out):
    """Separable 2D convolution of every slice of ``src`` with ``w``, 'valid' part only.

    ``src`` is (z, y + 2r, x + 2r), ``out`` is (z, y, x) with ``len(w) == 2r + 1``. Each
    output sums its taps in ascending order in float64, so tiles agree bit for bit.
    """
    nz, ny, nx = out.shape
    n = w.shape[0]
    rows = src.shape[1]
    tmp = np.empty((rows, nx), np.float64)
    acc = np.empty(nx, np.float64)
    for k in range(nz):
        for i in range(rows):
            for j in range(nx):
                s = 0.0
                for t in range(n):
                    s += w[t] * src[k, i, j + t]
                tmp[i, j] = s
        for i in range(ny):
            acc[:] = 0.0
            for t in range(n):
                wt = w[t]
                for j in range(nx):
                    acc[j] += wt * tmp[i + t, j]
            for j in range(nx):
                out[k, i, j] = acc[j]


@njit(cache=True, nogil=True)
def cord_radius(dy, dx, p):
    """Cord boundary radius in the direction (dy, dx) from its centre, for slice params p."""
    r = math.sqrt(dy * dy + dx * dx)
    if r > 0.0:
        c1, s1 = dx / r, dy / r
    else:
        c1, s1 = 1.0, 0.0
    ck, sk = c1, s1
    f = 1.0
    for h in range(4):  # harmonics 2..5 by complex multiplication (no trig per voxel)
        ck, sk = ck * c1 - sk * s1, sk * c1 + ck * s1
        f += p[3 + 2 * h] * ck + p[4 + 2 * h] * sk
    return p[2] * f


@njit(cache=True, nogil=True)
def cord_tissue(dy, dx, p, ell):
    """Tissue code (MEDIUM, WHITE, GREY, CANAL) at offset (dy, dx) from the cord centre."""
    if dy * dy + dx * dx >= cord_radius(dy, dx, p) ** 2:
        return MEDIUM
    inv_r = 1.0 / p[2]
    # v points dorsally, which is -y when the orientation angle is 0
    u = (dx * p[11] + dy * p[12]) * inv_r
    v = (dx * p[12] - dy * p[11]) * inv_r
    if u * u + v * v < CANAL_RADIUS * CANAL_RADIUS:
        return CANAL
    uu = u / p[13]
    vv = v / p[14]
    horn = p[15]
    for e in range(ell.shape[0]):
        du = uu - ell[e, 0]
        dv = vv - ell[e, 1]
        if abs(du) > ell[e, 7] or abs(dv) > ell[e, 7]:
            continue
        a = (du * ell[e, 4] + dv * ell[e, 5]) * ell[e, 2]
        b = (-du * ell[e, 5] + dv * ell[e, 4]) * ell[e, 3]
        if ell[e, 6] > 0.0:
            b /= horn
        if a * a + b * b < 1.0:
            return GREY
    return WHITE


@njit(cache=True, nogil=True)
def classify_points(pts, params, ell, codes, radius, cord_r):
    """Tissue code, distance from the cord centre and cord radius in that direction."""
    for i in range(pts.shape[0]):
        p = params[i]
        dy = pts[i, 1] - p[0]
        dx = pts[i, 2] - p[1]
        codes[i] = cord_tissue(dy, dx, p, ell)
        radius[i] = math.sqrt(dy * dy + dx * dx)
        cord_r[i] = cord_radius(dy, dx, p)


@njit(cache=True, nogil=True)
def _smooth(t):
    return t * t * (3.0 - 2.0 * t)


@njit(cache=True, nogil=True)
def _value_noise(key, z, y, x, cz, cyx):
    """Smooth lattice noise in [-1, 1], elongated along z (fibres)."""
    fz, fy, fx = z / cz, y / cyx, x / cyx
    iz, iy, ix = math.floor(fz), math.floor(fy), math.floor(fx)
    tz, ty, tx = _smooth(fz - iz), _smooth(fy - iy), _smooth(fx - ix)
    iz, iy, ix = int(iz), int(iy), int(ix)
    s = 0.0
    for a in range(2):
        wa = tz if a else 1.0 - tz
        for b in range(2):
            wb = ty if b else 1.0 - ty
            for c in range(2):
                wc = tx if c else 1.0 - tx
                s += wa * wb * wc * uniform_of(hash3(key, iz + a, iy + b, ix + c))
    return 2.0 * s - 1.0


@njit(cache=True, nogil=True)
def paint_background(mu, tissue, z0, y0, x0, params, ell, fov, values, tex_key, tex_amp):
    """Air / medium / white / grey / canal with the white-matter fibre texture."""
    nz, ny, nx = mu.shape
    fcy, fcx, fr2 = fov[0], fov[1], fov[2] * fov[2]
    for k in range(nz):
        p = params[k]
        z = z0 + k
        for i in range(ny):
            y = y0 + i
            for j in range(nx):
                x = x0 + j
                if (y - fcy) ** 2 + (x - fcx) ** 2 > fr2:
                    code = AIR
                else:
                    code = cord_tissue(y - p[0], x - p[1], p, ell)
                val = values[code]
                if code == WHITE and tex_amp > 0.0:
                    val += tex_amp * _value_noise(tex_key, z, y, x, 16.0, 3.0)
                tissue[k, i, j] = code
                mu[k, i, j] = val


@njit(cache=True, nogil=True)
def paint_somas(mu, tissue, z0, y0, x0, idx, centre, inv, lo, hi, nuc_off, nuc_scale, values):
    """Ellipsoids ``|inv @ (p - centre)| <= 1`` with optional nuclei (nuc_scale > 0)."""
    nz, ny, nx = mu.shape
    for n in range(idx.shape[0]):
        s = idx[n]
        m = inv[s]
        za, zb = max(lo[s, 0], z0), min(hi[s, 0], z0 + nz)
        ya, yb = max(lo[s, 1], y0), min(hi[s, 1], y0 + ny)
        xa, xb = max(lo[s, 2], x0), min(hi[s, 2], x0 + nx)
        ns2 = nuc_scale[s] * nuc_scale[s]
        for z in range(za, zb):
            dz = z - centre[s, 0]
            for y in range(ya, yb):
                dy = y - centre[s, 1]
                for x in range(xa, xb):
                    dx = x - centre[s, 2]
                    q0 = m[0, 0] * dz + m[0, 1] * dy + m[0, 2] * dx
                    q1 = m[1, 0] * dz + m[1, 1] * dy + m[1, 2] * dx
                    q2 = m[2, 0] * dz + m[2, 1] * dy + m[2, 2] * dx
                    if q0 * q0 + q1 * q1 + q2 * q2 > 1.0:
                        continue
                    code = SOMA
                    if ns2 > 0.0:
                        ez, ey, ex = dz - nuc_off[s, 0], dy - nuc_off[s, 1], dx - nuc_off[s, 2]
                        r0 = m[0, 0] * ez + m[0, 1] * ey + m[0, 2] * ex
                        r1 = m[1, 0] * ez + m[1, 1] * ey + m[1, 2] * ex
                        r2 = m[2, 0] * ez + m[2, 1] * ey + m[2, 2] * ex
                        if r0 * r0 + r1 * r1 + r2 * r2 <= ns2:
                            code = NUCLEUS
                    tissue[z - z0, y - y0, x - x0] = code
                    mu[z - z0, y - y0, x - x0] = values[code]


@njit(cache=True, nogil=True)
def paint_vessels(mu, tissue, z0, y0, x0, idx, p0, p1, r0, r1, lo, hi, values):
    """Rounded cones: distance to segment p0–p1 below the radius interpolated along it."""
    nz, ny, nx = mu.shape
    for n in range(idx.shape[0]):
        s = idx[n]
        d0, d1, d2 = p1[s, 0] - p0[s, 0], p1[s, 1] - p0[s, 1], p1[s, 2] - p0[s, 2]
        dd = d0 * d0 + d1 * d1 + d2 * d2
        za, zb = max(lo[s, 0], z0), min(hi[s, 0], z0 + nz)
        ya, yb = max(lo[s, 1], y0), min(hi[s, 1], y0 + ny)
        xa, xb = max(lo[s, 2], x0), min(hi[s, 2], x0 + nx)
        for z in range(za, zb):
            vz = z - p0[s, 0]
            for y in range(ya, yb):
                vy = y - p0[s, 1]
                for x in range(xa, xb):
                    vx = x - p0[s, 2]
                    t = (vz * d0 + vy * d1 + vx * d2) / dd if dd > 0.0 else 0.0
                    t = min(1.0, max(0.0, t))
                    ez, ey, ex = vz - t * d0, vy - t * d1, vx - t * d2
                    rad = r0[s] + t * (r1[s] - r0[s])
                    if ez * ez + ey * ey + ex * ex <= rad * rad:
                        tissue[z - z0, y - y0, x - x0] = VESSEL
                        mu[z - z0, y - y0, x - x0] = values[VESSEL]


@njit(cache=True, nogil=True)
def _interp(prof, pos):
    i = math.floor(pos)
    if i < 0:
        return prof[0]
    if i >= prof.shape[0] - 1:
        return prof[prof.shape[0] - 1]
    f = pos - i
    return prof[i] * (1.0 - f) + prof[i + 1] * f


@njit(cache=True, nogil=True)
def ring_response(q, s_off, cos_t, n_rho, step, out):
    """Back-projection of an angle-independent filtered sinogram ``q`` along a radius."""
    scale = math.pi / cos_t.shape[0]
    for i in range(n_rho):
        rho = i * step
        acc = 0.0
        for a in range(cos_t.shape[0]):
            acc += _interp(q, rho * cos_t[a] + s_off)
        out[i] = acc * scale


@njit(cache=True, nogil=True)
def compose(out, blurred, noise, sig_prof, ring_prof, step, y0, x0, fov, outside):
    """image = blurred + σ(ρ)·noise + ring(ρ) inside the FOV circle, ``outside`` beyond it."""
    nz, ny, nx = out.shape
    fcy, fcx, fr2 = fov[0], fov[1], fov[2] * fov[2]
    inv_step = 1.0 / step
    for k in range(nz):
        for i in range(ny):
            dy2 = (y0 + i - fcy) ** 2
            for j in range(nx):
                r2 = dy2 + (x0 + j - fcx) ** 2
                if r2 > fr2:
                    out[k, i, j] = outside
                    continue
                pos = math.sqrt(r2) * inv_step
                out[k, i, j] = (
                    blurred[k, i, j]
                    + _interp(sig_prof, pos) * noise[k, i, j]
                    + _interp(ring_prof[k], pos)
                )


@njit(cache=True, nogil=True)
def forward_project(mu, y0, x0, fov, cos_t, sin_t, s_off, sino):
    """Pixel-driven parallel-beam projection of a slice (linear splat to detector bins)."""
    ny, nx = mu.shape
    fcy, fcx, fr2 = fov[0], fov[1], fov[2] * fov[2]
    nd = sino.shape[1]
    for a in range(cos_t.shape[0]):
        c, s = cos_t[a], sin_t[a]
        for i in range(ny):
            dy = y0 + i - fcy
            for j in range(nx):
                v = mu[i, j]
                dx = x0 + j - fcx
                if v == 0.0 or dx * dx + dy * dy > fr2:
                    continue
                pos = dx * c + dy * s + s_off
                b = math.floor(pos)
                f = pos - b
                if 0 <= b < nd - 1:
                    sino[a, b] += v * (1.0 - f)
                    sino[a, b + 1] += v * f


@njit(cache=True, nogil=True)
def back_project(q, y0, x0, fov, cos_t, sin_t, s_off, out):
    """Pixel-driven back-projection (linear interpolation), scaled π / n_angles."""
    ny, nx = out.shape
    fcy, fcx, fr2 = fov[0], fov[1], fov[2] * fov[2]
    acc = np.zeros((ny, nx), np.float64)
    for a in range(cos_t.shape[0]):
        c, s = cos_t[a], sin_t[a]
        row = q[a]
        for i in range(ny):
            dy = y0 + i - fcy
            for j in range(nx):
                dx = x0 + j - fcx
                if dx * dx + dy * dy <= fr2:
                    acc[i, j] += _interp(row, dx * c + dy * s + s_off)
    scale = math.pi / cos_t.shape[0]
    for i in range(ny):
        for j in range(nx):
            out[i, j] = acc[i, j] * scale


@njit(cache=True, nogil=True)
def noise_profile(cord_r, fov_r, k, c_cord, c_medium, var_scale, n_ang, step, out):
    """Radial noise std of an FBP reconstruction of a centred disk phantom.

    The variance at radius ρ is ``var_scale · mean_θ exp(p(ρ cos θ))`` (Poisson statistics of
    the rays through the point), divided by ``k²`` to return image units.
    """
    for i in range(out.shape[0]):
        rho = i * step
        acc = 0.0
        for a in range(n_ang):
            s = rho * math.cos(math.pi * a / n_ang)
            lc = 2.0 * math.sqrt(max(cord_r * cord_r - s * s, 0.0))
            lf = 2.0 * math.sqrt(max(fov_r * fov_r - s * s, 0.0))
            acc += math.exp(k * (c_cord * lc + c_medium * (lf - lc)))
        out[i] = math.sqrt(var_scale * acc / n_ang) / k
