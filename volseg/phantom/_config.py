"""The phantom's configuration: one frozen, validated object that fixes every voxel."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from volseg.config import FrozenConfig
from volseg.errors import ConfigError

__all__ = ["CLASS_NAMES", "PRESETS", "PhantomConfig"]

#: Label values of the ground truth: 0 background, 1 soma, 2 vessel.
CLASS_NAMES: tuple[str, ...] = ("background", "soma", "vessel")

#: Named volume shapes (z, y, x) for :meth:`PhantomConfig.preset`.
PRESETS: dict[str, tuple[int, int, int]] = {
    "small": (64, 512, 512),
    "full": (1800, 2300, 1920),
}


class PhantomConfig(FrozenConfig):
    """Everything that decides the synthetic spinal-cord volume, voxel for voxel.

    Sizes are in voxels; ``voxel_size`` (µm, z y x) is only carried to the output metadata.
    Two configs that compare equal give bit-identical volumes.

    Attributes
    ----------
    shape
        Volume shape (z, y, x) in voxels, each > 0.
    seed
        Seed of the scene and of every noise field.
    mode
        ``"fast"``: analytic imitation of a CT reconstruction (blur, band-passed noise, rings).
        ``"ct"``: per-slice parallel-beam simulation (projection, Poisson noise, detector
        gain errors, filtered back-projection). Both share the scene and the calibration.
    dtype
        Output image dtype; integers are scaled from the fixed range ``image_range``.
    voxel_size
        Physical voxel size in µm (z, y, x), > 0.
    soma_fraction
        Target fraction of the cord volume covered by somas.
    nuclei
        Draw a nucleus (darker inner ellipsoid, still label 1) in every soma.
    soma_median_diameter, soma_diameter_range
        Soma equivalent diameters are log-normal with this median, clipped to the range.
    grey_density_ratio
        Soma density in grey matter relative to white matter.
    vessel_density
        Vessel trunks per 10⁶ px² of cord cross-section (at least two trunks).
    vessel_diameter_range
        Smallest and largest vessel diameter.
    branch_rate
        Branches per 1000 px of trunk length.
    psf_sigma
        Gaussian point-spread σ in pixels (in-plane).
    noise
        Reconstruction noise std at the slice centre, in image units (white matter ≈ 0.5,
        soma ≈ 0.8). The CT photon count is derived from it.
    rings
        RMS of the ring-artefact radial profile, in image units. The CT detector gain
        errors are derived from it.
    texture
        Amplitude of the white-matter fibre texture, in image units.
    ct_angles
        Projection angles over 180° in ``ct`` mode; ``None`` derives ≈ π/2 · FOV diameter.
    image_range
        Image values mapped to 0 and to the integer maximum for integer dtypes (clipped).
    """

    shape: tuple[int, int, int] = (64, 512, 512)
    seed: int = Field(0, ge=0, lt=2**63)
    mode: Literal["fast", "ct"] = "fast"
    dtype: Literal["uint8", "uint16", "float32"] = "uint8"
    voxel_size: tuple[float, float, float] = (1.0, 1.0, 1.0)
    soma_fraction: float = Field(0.04, ge=0.0, le=0.3)
    nuclei: bool = True
    soma_median_diameter: float = Field(22.0, gt=0.0)
    soma_diameter_range: tuple[float, float] = (15.0, 100.0)
    grey_density_ratio: float = Field(4.0, ge=1.0, le=100.0)
    vessel_density: float = Field(25.0, ge=0.0)
    vessel_diameter_range: tuple[float, float] = (6.0, 40.0)
    branch_rate: float = Field(3.0, ge=0.0)
    psf_sigma: float = Field(1.0, ge=0.0, le=4.0)
    noise: float = Field(0.06, ge=0.0, le=1.0)
    rings: float = Field(0.015, ge=0.0, le=1.0)
    texture: float = Field(0.025, ge=0.0, le=0.5)
    ct_angles: int | None = Field(None, ge=8, le=20000)
    image_range: tuple[float, float] = (-0.25, 1.25)

    @field_validator("shape")
    @classmethod
    def _positive_shape(cls, v: tuple[int, int, int]) -> tuple[int, int, int]:
        if any(s <= 0 for s in v):
            raise ValueError(f"shape must be positive on every axis (z, y, x), got {v}")
        if min(v[1], v[2]) < 16:
            raise ValueError(f"slices must be at least 16 × 16 px to hold a cord, got {v}")
        if max(v) >= 1 << 20:
            raise ValueError(f"shape {v} exceeds 2**20 voxels on an axis")
        return v

    @field_validator("voxel_size")
    @classmethod
    def _positive_voxels(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(not (s > 0 and math.isfinite(s)) for s in v):
            raise ValueError(f"voxel_size must be finite and > 0 (µm, z y x), got {v}")
        return v

    @field_validator("soma_diameter_range", "vessel_diameter_range", "image_range")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (math.isfinite(v[0]) and math.isfinite(v[1]) and v[0] < v[1]):
            raise ValueError(f"range must be finite with low < high, got {v}")
        return v

    @model_validator(mode="after")
    def _sizes(self) -> PhantomConfig:
        lo, hi = self.soma_diameter_range
        if lo < 2.0:
            raise ValueError(f"soma_diameter_range must start at >= 2 px, got {lo}")
        if not lo <= self.soma_median_diameter <= hi:
            raise ValueError(
                f"soma_median_diameter {self.soma_median_diameter} lies outside "
                f"soma_diameter_range {self.soma_diameter_range}"
            )
        if self.vessel_diameter_range[0] < 2.0:
            raise ValueError("vessel_diameter_range must start at >= 2 px")
        return self

    @classmethod
    def preset(cls, name: Literal["small", "full"], **overrides: Any) -> PhantomConfig:
        """A config of a named size, ``"small"`` (64, 512, 512) or ``"full"`` (1800, 2300, 1920).

        Raises
        ------
        ConfigError
            For an unknown preset name, or when ``overrides`` set ``shape``.
        """
        if name not in PRESETS:
            raise ConfigError(f"unknown phantom preset {name!r}; choose one of {sorted(PRESETS)}")
        if "shape" in overrides:
            raise ConfigError("a preset fixes the shape; pass shape= to PhantomConfig instead")
        return cls(shape=PRESETS[name], **overrides)

    @property
    def fov_diameter(self) -> int:
        """Diameter of the circular field of view (the smaller slice side)."""
        return min(self.shape[1], self.shape[2])

    @property
    def n_angles(self) -> int:
        """Projection angles of the CT simulation (and of the matching fast-mode model)."""
        if self.ct_angles is not None:
            return self.ct_angles
        return max(16, round(math.pi / 2 * self.fov_diameter))
