"""Pictures: error overlays in the study's colour code, comparison figures, 3D meshes,
the tile study plot."""

from volseg.viz._curves import plot_training_curves
from volseg.viz._figures import comparison_figure, save_figure
from volseg.viz._meshes import render_meshes
from volseg.viz._overlay import (
    MAX_DISPLAY_SIDE,
    OVERLAY_COLOURS,
    display_factor,
    overlay,
    overlay_codes,
    reduce_image,
    reduce_labels,
)
from volseg.viz._tiles import plot_tile_study

__all__ = [
    "MAX_DISPLAY_SIDE",
    "OVERLAY_COLOURS",
    "comparison_figure",
    "display_factor",
    "overlay",
    "overlay_codes",
    "plot_tile_study",
    "plot_training_curves",
    "reduce_image",
    "reduce_labels",
    "render_meshes",
    "save_figure",
]
