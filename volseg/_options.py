"""Option types shared by configs and the modules that use them, torch-free.

Each ``Literal`` here is the one definition of its option: configs, signatures and
hand-written checks (``typing.get_args``) use it, never a copy of its values. They live here
rather than beside their users because those (inference, device resolution) import torch,
and the configs and the command line that name them must not.
"""

from __future__ import annotations

from typing import Literal

from volseg.tiling._derive import Device

__all__ = ["DeviceChoice", "ProbabilityDtype", "SkipPolicy"]

#: Where a model runs as asked for: ``"auto"`` takes CUDA when present, else the CPU.
DeviceChoice = Literal["auto", Device]
#: Tiles the predictor does not run: ``"empty"`` skips tiles whose input is one constant value.
SkipPolicy = Literal["none", "empty"]
#: How class probabilities are stored: float16, or uint8 (``round(p * 255)``).
ProbabilityDtype = Literal["float16", "uint8"]
