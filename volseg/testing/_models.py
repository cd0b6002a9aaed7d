"""A tiny real checkpoint for tests of the inference path (no training: seconds)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from volseg.models import build_model, save_checkpoint


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
