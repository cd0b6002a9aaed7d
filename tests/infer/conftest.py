from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from volseg.testing import IntegerConvNet


def single_pass_probabilities(
    model: nn.Module, volume: np.ndarray, *, context: int, mean: float = 0.0, std: float = 1.0
) -> np.ndarray:
    """``(K, z, y, x)`` softmax of one pass per whole slice, mirror-padded by ``context``,
    with 2.5D channels repeating the edge slices (the reference for tiled inference)."""
    depth = volume.shape[0]
    half = (int(getattr(model, "in_channels", 1)) - 1) // 2
    x = (volume.astype(np.float32) - np.float32(mean)) / np.float32(std)
    x = np.pad(x, ((0, 0), (context, context), (context, context)), mode="reflect")
    out = []
    with torch.no_grad():
        for z in range(depth):
            zs = np.clip(np.arange(z - half, z + half + 1), 0, depth - 1)
            logits = model(torch.from_numpy(np.ascontiguousarray(x[zs]))[None])[0]
            crop = logits[:, context : x.shape[1] - context, context : x.shape[2] - context]
            out.append(torch.softmax(crop, dim=0).numpy())
    return np.stack(out, axis=1)


@pytest.fixture
def integer_volume() -> np.ndarray:
    """A (5, 203, 157) volume of small integers (dims that divide by nothing useful)."""
    return np.random.default_rng(7).integers(0, 8, (5, 203, 157)).astype(np.uint8)


@pytest.fixture
def integer_net() -> type[IntegerConvNet]:
    """The :class:`IntegerConvNet` class (build it with ``in_channels``, ``seed``)."""
    return IntegerConvNet


@pytest.fixture
def single_pass() -> object:
    """:func:`single_pass_probabilities`."""
    return single_pass_probabilities


def calibrate_batchnorm(model: nn.Module, images: torch.Tensor) -> nn.Module:
    """Set BatchNorm statistics from ``images`` so a random net's logits vary in space.

    A freshly initialised deep net (BN statistics 0/1) maps every pixel to nearly the same
    logits; with statistics measured on real input its random features reach the output.
    """
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    model.train()
    with torch.no_grad():
        model(images)
    return model.eval()


@pytest.fixture
def random_segnet() -> nn.Module:
    """A seeded SegNet(width=4, 3 classes), BatchNorm calibrated on a smooth image."""
    from volseg.models import segnet

    torch.manual_seed(0)
    y, x = np.mgrid[0:128, 0:128].astype(np.float32)
    image = np.sin(y / 9.0) * np.cos(x / 13.0) + np.random.default_rng(0).normal(0, 0.3, y.shape)
    return calibrate_batchnorm(
        segnet(width=4, num_classes=3), torch.from_numpy(image.astype(np.float32))[None, None]
    )


@pytest.fixture
def calibrate() -> object:
    """:func:`calibrate_batchnorm`."""
    return calibrate_batchnorm
