"""Tissue classes of the clean phantom and their image values (attenuation, arbitrary units)."""

from __future__ import annotations

import numpy as np

__all__ = ["OUTSIDE_VALUE", "TISSUE_NAMES", "TISSUE_VALUES"]

#: Tissue codes returned by :func:`volseg.phantom.render_tissue` (index = code).
TISSUE_NAMES: tuple[str, ...] = (
    "air",  # outside the field of view
    "medium",  # embedding medium around the cord
    "white",
    "grey",
    "canal",
    "soma",
    "nucleus",
    "vessel",
)

#: Clean image value of each tissue. Vessels sit 0.02 below somas: 7 % of the soma–white
#: contrast, so a vessel cross-section reads like a small soma in one slice.
TISSUE_VALUES = np.array([0.0, 0.2, 0.5, 0.6, 0.3, 0.8, 0.66, 0.78])
TISSUE_VALUES.flags.writeable = False

#: Reconstructed value outside the field-of-view circle (as CT software writes it).
OUTSIDE_VALUE = 0.0

# mean value of cord tissue, used by the noise model of both modes
CORD_MEAN = 0.53
MEDIUM = float(TISSUE_VALUES[1])
