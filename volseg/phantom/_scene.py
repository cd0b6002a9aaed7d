"""The scene: every object of the phantom, drawn once from the config's seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from volseg.phantom._config import PhantomConfig
from volseg.phantom._cord import CordModel, cord_areas, draw_cord
from volseg.phantom._detector import Detector, make_detector
from volseg.phantom._somas import Somas, draw_somas
from volseg.phantom._vessels import Vessels, draw_vessels

__all__ = ["Scene", "draw_scene"]


@dataclass(frozen=True, eq=False)
class Scene:
    """Everything :func:`render` needs: small arrays (KB to a few MB), picklable, read-only.

    Attributes
    ----------
    config
        The config the scene was drawn from.
    cord
        Slowly varying outline and grey-matter parameters of the cord.
    somas, vessels
        Soma ellipsoids and vessel segments, with bounding boxes for per-box selection.
    detector
        The imaging model (attenuation scale, photons, gain errors, noise profile).
    cord_volume
        Cord volume in voxels (analytic), the reference of ``soma_fraction``.
    """

    config: PhantomConfig
    cord: CordModel
    somas: Somas
    vessels: Vessels
    detector: Detector
    cord_volume: float

    def summary(self) -> dict[str, float | int]:
        """Object counts and derived numbers, JSON-ready (for provenance records)."""
        return {
            "somas": len(self.somas),
            "somas_in_grey_matter": int(self.somas.grey.sum()),
            "soma_fraction": float(self.somas.volume.sum() / self.cord_volume),
            "vessels": len(np.unique(self.vessels.vessel)),
            "vessel_segments": len(self.vessels),
            "cord_volume": float(self.cord_volume),
            "ct_photons": float(self.detector.photons),
            "ct_angles": len(self.detector.cos_t),
        }


def draw_scene(config: PhantomConfig) -> Scene:
    """Draw the cord, vessels and somas of ``config`` (a pure function of the config).

    Each part draws from its own stream of ``config.seed``, so e.g. changing
    ``soma_fraction`` leaves the cord and the vessels as they were. Memory and time grow with
    the number of objects, never with the volume: the full preset draws in seconds.

    Examples
    --------
    >>> from volseg.phantom import PhantomConfig, draw_scene
    >>> scene = draw_scene(PhantomConfig(shape=(8, 96, 128), seed=1))
    >>> len(scene.vessels) > 0
    True
    """
    seed = config.seed
    cord = draw_cord(config, np.random.default_rng([seed, 1]))
    vessels = draw_vessels(config, cord, np.random.default_rng([seed, 2]))
    cord_volume = float(cord_areas(cord, config.shape[0]).sum())
    somas = draw_somas(
        config,
        cord,
        vessels,
        np.random.default_rng([seed, 3]),
        target_volume=config.soma_fraction * cord_volume,
    )
    detector = make_detector(config, float(cord.base[2]), np.random.default_rng([seed, 4]))
    scene = Scene(config, cord, somas, vessels, detector, cord_volume)
    for part in (cord, somas, vessels, detector):
        for value in vars(part).values():
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
    return scene
