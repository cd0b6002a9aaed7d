"""Tiny real models for tests of the inference path (no training: seconds): a seeded
checkpoint whose labels vary in space, and a network exact in float32."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from volseg.models import SegmentationModel, build_model, save_checkpoint


class IntegerConvNet(SegmentationModel):
    """Two 3x3 convolutions with a ReLU between, integer weights and biases.

    With integer-valued inputs every sum is an exact float32 integer, so the logits do not
    depend on the convolution algorithm or the input size: a tiled pass can be compared
    with a single pass bit for bit. Receptive-field radius 2.
    """

    alignment: ClassVar[int] = 8
    receptive_radius: ClassVar[int] = 2

    def __init__(self, *, in_channels: int = 1, num_classes: int = 3, seed: int = 0) -> None:
        super().__init__()
        self.in_channels, self.num_classes = in_channels, num_classes
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 6, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(6, num_classes, 3, padding=1),
        )
        rng = np.random.default_rng(seed)
        with torch.no_grad():
            for p in self.net.parameters():
                p.copy_(torch.from_numpy(rng.integers(-2, 3, p.shape).astype(np.float32)))
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


def write_tiny_checkpoint(
    path: str | Path,
    images: np.ndarray,
    *,
    architecture: str = "unet-small",
    classes: Sequence[str] = ("background", "soma", "vessel"),
    width: int = 4,
    normalization: tuple[float, float] = (100.0, 40.0),
    seed: int = 0,
) -> Path:
    """Save a seeded, untrained ``architecture`` whose BatchNorm statistics are measured on
    ``images`` (``(n, y, x)``, normalized with ``normalization``), and whose logit offsets
    centre each class's mean logit on them, so its labels vary in space like a real
    model's; the checkpoint records ``classes``, ``normalization`` and ``logit_offsets``."""
    torch.manual_seed(seed)
    model = build_model(architecture, in_channels=1, num_classes=len(classes), width=width)
    mean, std = normalization
    x = (torch.from_numpy(np.asarray(images, np.float32))[:, None] - mean) / std
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a plain average: one pass sets the data's statistics
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()
    with torch.no_grad():  # offsets that centre each class's logits: every class wins somewhere
        offsets = (-model(x).mean(dim=(0, 2, 3))).tolist()
    save_checkpoint(
        path,
        model,
        architecture=architecture,
        arguments={"in_channels": 1, "num_classes": len(classes), "width": width},
        metadata={
            "classes": list(classes),
            "normalization": {"mean": mean, "std": std},
            "logit_offsets": offsets,
        },
    )
    return Path(path)
