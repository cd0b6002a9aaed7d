"""Pictures: error overlays in the study's colour code and comparison figures."""

from volseg.viz._curves import plot_training_curves
from volseg.viz._figures import comparison_figure, save_figure
from volseg.viz._overlay import (
    MAX_DISPLAY_SIDE,
    OVERLAY_COLOURS,
    display_factor,
    overlay,
    overlay_codes,
    reduce_image,
    reduce_labels,
)

__all__ = [
    "MAX_DISPLAY_SIDE",
    "OVERLAY_COLOURS",
    "comparison_figure",
    "display_factor",
    "overlay",
    "overlay_codes",
    "plot_training_curves",
    "reduce_image",
    "reduce_labels",
    "save_figure",
]
