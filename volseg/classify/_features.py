"""What tells a soma from a vessel: per-object 3D features, from one object's mask and image.

In one slice a vessel's cross-section is a bright disc like a soma. In 3D a vessel is a
long, thin, often branching tube running through many slices; a soma is a compact
ellipsoid, often with a darker nucleus. The features below measure exactly that: size and
compactness (the object table's columns), extent along z against the xy extent, the
direction of the principal axis, the skeleton's length and branches, how far the object
reaches beyond its largest inscribed ball, how the radius varies along the skeleton, and
the intensity inside: mean, spread, and the contrast of the core against the rim.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from volseg.classify._split import object_distance
from volseg.reconstruct._sampling import SampledMask
from volseg.reconstruct._skeleton import skeleton_sampled
from volseg.reconstruct._table import block_moments, table_columns

__all__ = ["FEATURES", "piece_features"]

#: The features of an object, in the order a classifier sees them.
FEATURES: tuple[str, ...] = (
    "volume_um3",
    "equivalent_diameter_um",
    "surface_area_um2",
    "sphericity",
    "elongation",
    "extent_z_um",
    "extent_xy_um",
    "z_over_xy",
    "axis_z",
    "z_area_mean_over_max",
    "z_end_area_ratio",
    "max_radius_um",
    "ball_fill",
    "skeleton_length_um",
    "skeleton_branch_points",
    "length_over_diameter",
    "radius_mean_um",
    "radius_cv",
    "intensity_mean",
    "intensity_std",
    "core_contrast",
    "touches_border",
    "segmented_fraction",
)


def piece_features(
    mask: npt.NDArray[np.bool_],
    image: npt.NDArray[np.number] | None,
    *,
    voxel_size: Sequence[float],
    origin_um: Sequence[float] = (0.0, 0.0, 0.0),
    border: Sequence[tuple[bool, bool]] = ((False, False),) * 3,
    labels: npt.NDArray[np.integer] | None = None,
    vote: int | None = None,
    distance: npt.NDArray[np.floating] | None = None,
) -> dict[str, float]:
    """The :data:`FEATURES` of one object.

    Parameters
    ----------
    mask : (Z, Y, X) bool ndarray
        The object inside a crop with at least one background voxel around it, except where
        the crop meets the volume's border.
    image : (Z, Y, X) ndarray or None
        Intensities on the same grid (None: intensity features are 0).
    voxel_size : (dz, dy, dx)
        Size of the mask's voxels in µm (coarse voxels when the mask was downsampled).
    origin_um : (z, y, x)
        Centre of ``mask[0, 0, 0]`` in µm (for the skeleton; the features do not depend on it).
    border : ((low, high), ...) per axis
        Whether the crop's first / last plane on each axis is on the volume's border.
    labels, vote : (Z, Y, X) ndarray and int, optional
        The segmentation's class labels on the same grid, and the class value whose share
        of the object is ``segmented_fraction`` (the last object class, e.g. vessel: what
        the per-slice network thought). 0 when not given.
    distance : (Z, Y, X) ndarray, optional
        :func:`~volseg.classify.object_distance` of ``mask``, if already computed.

    Returns
    -------
    dict
        Feature name → value (floats, finite). Notes on the less obvious ones:
        ``axis_z`` is |z component| of the principal axis (1: along z);
        ``z_area_mean_over_max`` the mean over the max area of the object's slices (a tube
        along z ≈ 1, a ball ≈ 2/3); ``z_end_area_ratio`` the mean area of its first and last
        slice over the max (≈ 0 for a blob's caps, ≈ 1 for a tube cut by the volume);
        ``ball_fill`` is the
        volume over that of the largest inscribed ball (≈ 1–3 for blobs, large for tubes);
        ``length_over_diameter`` the skeleton length over the equivalent diameter;
        ``radius_cv`` the coefficient of variation of the distance transform along the
        skeleton; ``core_contrast`` is (mean intensity where the distance to the surface is
        at least half its maximum − mean intensity nearer the surface) / intensity std:
        negative for a soma with a dark nucleus, near 0 for a uniform tube.
    """
    mask = np.asarray(mask, dtype=bool)
    vs = np.asarray(voxel_size, dtype=np.float64)
    local = mask.astype(np.uint8)
    # the crop's edges count as volume borders: faces there are exposed (the crop has a
    # background margin elsewhere, so this only matters where the object meets the volume)
    moments = block_moments(local, 1, (0, 0, 0), volume_shape=mask.shape, image=None)
    row = {
        k: v[0] for k, v in table_columns(moments, voxel_size=tuple(vs), shape=mask.shape).items()
    }
    coords = np.argwhere(mask)
    lo, hi = coords.min(axis=0), coords.max(axis=0) + 1
    extent = (hi - lo) * vs
    points = coords * vs
    cov = np.cov(points.T) if len(points) > 1 else np.zeros((3, 3))
    _, vectors = np.linalg.eigh(np.atleast_2d(cov))
    if distance is None:
        distance = object_distance(mask, tuple(vs))
    inside = distance[mask]
    max_radius = float(inside.max())
    skeleton = skeleton_sampled(
        SampledMask(mask, (vs[0], vs[1], vs[2]), tuple(origin_um), (1, 1, 1)),  # type: ignore[arg-type]
        distance,
    )
    radii = skeleton.radii if len(skeleton) else np.array([max_radius])
    volume = float(row["volume_um3"])
    diameter = float(row["equivalent_diameter_um"])
    features = {
        "volume_um3": volume,
        "equivalent_diameter_um": diameter,
        "surface_area_um2": float(row["surface_area_um2"]),
        "sphericity": float(row["sphericity"]),
        "elongation": float(row["elongation"]),
        "extent_z_um": float(extent[0]),
        "extent_xy_um": float(max(extent[1], extent[2])),
        "z_over_xy": float(extent[0] / max(extent[1], extent[2])),
        "axis_z": float(abs(vectors[0, -1])),
        **_area_profile(mask),
        "max_radius_um": max_radius,
        "ball_fill": volume / (4.0 / 3.0 * np.pi * max_radius**3),
        "skeleton_length_um": skeleton.length_um,
        "skeleton_branch_points": float(skeleton.n_branch_points),
        "length_over_diameter": skeleton.length_um / diameter,
        "radius_mean_um": float(radii.mean()),
        "radius_cv": float(radii.std() / radii.mean()) if radii.mean() > 0 else 0.0,
        **_intensity(mask, image, distance, max_radius),
        "touches_border": float(_touches(mask, border)),
        "segmented_fraction": (
            0.0
            if labels is None or vote is None
            else float(np.count_nonzero(labels[mask] == vote)) / float(mask.sum())
        ),
    }
    return features


def _area_profile(mask: npt.NDArray[np.bool_]) -> dict[str, float]:
    areas = mask.sum(axis=(1, 2)).astype(np.float64)
    areas = areas[areas > 0]
    top = float(areas.max())
    return {
        "z_area_mean_over_max": float(areas.mean()) / top,
        "z_end_area_ratio": float(areas[0] + areas[-1]) / (2 * top),
    }


def _intensity(
    mask: npt.NDArray[np.bool_],
    image: npt.NDArray[np.number] | None,
    distance: npt.NDArray[np.floating],
    max_radius: float,
) -> dict[str, float]:
    if image is None:
        return {"intensity_mean": 0.0, "intensity_std": 0.0, "core_contrast": 0.0}
    values = np.asarray(image, dtype=np.float64)
    inside = values[mask]
    std = float(inside.std())
    core = mask & (distance >= 0.5 * max_radius)
    rim = mask & ~core
    contrast = 0.0
    if core.any() and rim.any():
        contrast = (float(values[core].mean()) - float(values[rim].mean())) / max(std, 1e-6)
    return {"intensity_mean": float(inside.mean()), "intensity_std": std, "core_contrast": contrast}


def _touches(mask: npt.NDArray[np.bool_], border: Sequence[tuple[bool, bool]]) -> bool:
    for axis, (low, high) in enumerate(border):
        first = np.take(mask, 0, axis=axis)
        last = np.take(mask, mask.shape[axis] - 1, axis=axis)
        if (low and first.any()) or (high and last.any()):
            return True
    return False
