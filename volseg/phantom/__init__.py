"""Synthetic spinal-cord tomography with exact ground truth.

Draw a :class:`Scene` once from a :class:`PhantomConfig`, then :func:`render` any box of
the volume, in any order and from any thread; the bytes never depend on the boxes.

Examples
--------
>>> from volseg.geometry import Box
>>> from volseg.phantom import PhantomConfig, draw_scene, render
>>> config = PhantomConfig(shape=(4, 96, 128), seed=3)
>>> image, labels = render(draw_scene(config), Box.from_shape(config.shape))
>>> image.dtype, labels.dtype, image.shape
(dtype('uint8'), dtype('uint8'), (4, 96, 128))
"""

from volseg.phantom._config import CLASS_NAMES, PRESETS, PhantomConfig
from volseg.phantom._generate import generate_phantom, task_boxes
from volseg.phantom._render import render, render_halo, render_tissue
from volseg.phantom._scene import Scene, draw_scene
from volseg.phantom._tissue import OUTSIDE_VALUE, TISSUE_NAMES, TISSUE_VALUES

__all__ = [
    "CLASS_NAMES",
    "OUTSIDE_VALUE",
    "PRESETS",
    "TISSUE_NAMES",
    "TISSUE_VALUES",
    "PhantomConfig",
    "Scene",
    "draw_scene",
    "generate_phantom",
    "render",
    "render_halo",
    "render_tissue",
    "task_boxes",
]
