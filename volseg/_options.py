"""Option types shared by configs and the modules that use them, torch-free.

Each ``Literal`` here is the one definition of its option: configs, signatures and
hand-written checks (``typing.get_args``) use it, never a copy of its values. They live here
rather than beside their users because those (inference, device resolution) import torch,
and the configs and the command line that name them must not.
"""

from __future__ import annotations

from typing import Literal

from volseg.tiling._derive import Device
from volseg.tiling._grid import WindowKind

__all__ = [
    "DEFAULT_OVERLAP",
    "DEFAULT_PRECISION",
    "DEFAULT_SKIP",
    "DEFAULT_WINDOW",
    "DeviceChoice",
    "Precision",
    "ProbabilityDtype",
    "SkipPolicy",
]

#: Where a model runs as asked for: ``"auto"`` takes CUDA when present, else the CPU.
DeviceChoice = Literal["auto", Device]
#: Tiles the predictor does not run: ``"empty"`` skips tiles whose input is one constant value.
SkipPolicy = Literal["none", "empty"]
#: Arithmetic of the forward pass: ``"auto"`` is bf16 autocast on CUDA and float32 on the
#: CPU; ``"fp16"`` autocasts to float16 on CUDA; ``"fp32"`` is float32 everywhere (TF32
#: off on CUDA, so GPU labels match CPU labels most closely, at a few times the GPU time).
Precision = Literal["auto", "bf16", "fp16", "fp32"]
#: How class probabilities are stored: float16, or uint8 (``round(p * 255)``).
ProbabilityDtype = Literal["float16", "uint8"]

# The defaults of `volseg segment`, also those training validation predicts with, so that
# the best checkpoint is chosen by what ships.
#: Tile overlap, a fraction of the tile.
DEFAULT_OVERLAP = 0.25
#: Forward-pass arithmetic.
DEFAULT_PRECISION: Precision = "auto"
#: Blending window.
DEFAULT_WINDOW: WindowKind = "gaussian"
#: Tiles not run.
DEFAULT_SKIP: SkipPolicy = "empty"
