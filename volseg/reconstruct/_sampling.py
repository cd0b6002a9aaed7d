"""An object's mask at a bounded resolution: the input of meshing and skeletonization.

An object whose bounding box holds more than ``max_voxels`` voxels is meshed and skeletonized
on a coarser mask so that memory stays bounded. The coarse mask is the *block-any* reduction
of the fine one by an integer factor per axis: a coarse voxel is inside when any fine voxel of
its block is. Block-any keeps thin structures (vessels, processes) present and connected at
the coarse resolution, where a block-majority rule would erase anything thinner than half a
block; the price is that the object grows by up to half a coarse voxel at its surface.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from volseg.errors import ConfigError, InputError
from volseg.geometry import Box

__all__ = [
    "DEFAULT_MAX_VOXELS",
    "SampledMask",
    "check_voxel_size",
    "downsample_factor",
    "read_sampled_mask",
    "sample_mask",
]

DEFAULT_MAX_VOXELS = 64 * 2**20


def check_voxel_size(voxel_size: Sequence[float]) -> tuple[float, float, float]:
    """``voxel_size`` as three floats, or :class:`ConfigError` if not three positive numbers."""
    vs = tuple(float(v) for v in voxel_size)
    if len(vs) != 3 or not all(math.isfinite(v) and v > 0 for v in vs):
        raise ConfigError(
            f"voxel_size must be three positive numbers (dz, dy, dx) in µm, got {voxel_size}"
        )
    return (vs[0], vs[1], vs[2])


@dataclass(frozen=True, eq=False)
class SampledMask:
    """A boolean (z, y, x) mask placed in physical space.

    Voxel ``j`` of :attr:`mask` has its centre at ``origin_um + j * voxel_size`` (z, y, x, µm).
    """

    mask: np.ndarray
    voxel_size: tuple[float, float, float]
    origin_um: tuple[float, float, float]
    factor: tuple[int, int, int]


def downsample_factor(
    shape: Sequence[int], voxel_size: Sequence[float], max_voxels: int
) -> tuple[int, int, int]:
    """The integer factor per axis (z, y, x) that brings ``shape`` to at most ``max_voxels``.

    The finest axis (smallest ``voxel_size × factor``) is coarsened first, so the coarse voxels
    are as isotropic as possible; ``(1, 1, 1)`` when ``shape`` fits already.
    """
    if max_voxels < 1:
        raise ConfigError(f"max_voxels must be at least 1, got {max_voxels}")
    vs = check_voxel_size(voxel_size)
    factor = [1, 1, 1]

    def coarse(axis: int) -> int:
        return -(-int(shape[axis]) // factor[axis])

    while math.prod(coarse(a) for a in range(3)) > max_voxels:
        axes = [a for a in range(3) if coarse(a) > 1]
        axis = min(axes, key=lambda a: (vs[a] * factor[a], -coarse(a), a))
        factor[axis] += 1
    return (factor[0], factor[1], factor[2])


def _block_any(mask: np.ndarray, factor: tuple[int, int, int]) -> np.ndarray:
    if factor == (1, 1, 1):
        return mask
    pad = [(0, -s % f) for s, f in zip(mask.shape, factor, strict=True)]
    padded = np.pad(mask, pad)
    (cz, cy, cx) = (s // f for s, f in zip(padded.shape, factor, strict=True))
    blocks = padded.reshape(cz, factor[0], cy, factor[1], cx, factor[2])
    return np.asarray(blocks.any(axis=(1, 3, 5)))


def _placed(
    mask: np.ndarray,
    voxel_size: tuple[float, float, float],
    origin_index: Sequence[float],
    factor: tuple[int, int, int],
) -> SampledMask:
    # a coarse voxel's centre is the centre of its block of fine voxels
    origin = tuple(
        (float(o) + (f - 1) / 2) * v
        for o, f, v in zip(origin_index, factor, voxel_size, strict=True)
    )
    coarse = tuple(v * f for v, f in zip(voxel_size, factor, strict=True))
    return SampledMask(
        mask, (coarse[0], coarse[1], coarse[2]), (origin[0], origin[1], origin[2]), factor
    )


def sample_mask(
    mask: np.ndarray,
    *,
    voxel_size: Sequence[float],
    origin_index: Sequence[float] = (0, 0, 0),
    max_voxels: int = DEFAULT_MAX_VOXELS,
) -> SampledMask:
    """Place an in-memory (z, y, x) mask, block-any downsampled if it exceeds ``max_voxels``."""
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise InputError(f"the object mask must be 3-D (z, y, x), got shape {mask.shape}")
    if len(origin_index) != 3:
        raise ConfigError(f"origin_index must be three numbers (z, y, x), got {origin_index}")
    vs = check_voxel_size(voxel_size)
    factor = downsample_factor(mask.shape, vs, max_voxels)
    return _placed(_block_any(mask.astype(bool, copy=False), factor), vs, origin_index, factor)


def read_sampled_mask(
    labels: Any,
    box: Box,
    object_id: int,
    *,
    voxel_size: Sequence[float],
    max_voxels: int = DEFAULT_MAX_VOXELS,
) -> SampledMask:
    """The mask ``labels[box] == object_id``, read slab by slab when it must be downsampled.

    ``labels`` is anything sliceable like a (z, y, x) numpy or zarr array. Memory stays below
    about ``max_voxels`` voxels of ``labels``' dtype plus the coarse mask, whatever the box.
    """
    vs = check_voxel_size(voxel_size)
    factor = downsample_factor(box.shape, vs, max_voxels)
    if factor == (1, 1, 1):
        mask = np.asarray(labels[box.slices]) == object_id
        return _placed(mask, vs, box.start, factor)
    plane = box.shape[1] * box.shape[2]
    # slabs of whole coarse planes, as thick as the voxel budget allows
    step = factor[0] * max(1, max_voxels // max(1, plane * factor[0]))
    coarse_planes = []
    for z0 in range(box.start[0], box.stop[0], step):
        z1 = min(z0 + step, box.stop[0])
        slab = np.asarray(labels[z0:z1, box.slices[1], box.slices[2]]) == object_id
        coarse_planes.append(_block_any(slab, factor))
    return _placed(np.concatenate(coarse_planes, axis=0), vs, box.start, factor)
