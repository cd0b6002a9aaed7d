"""Whole-image prediction: tiles partition the image, and tiling changes nothing for a
model whose receptive field fits in the margin."""

from __future__ import annotations

import numpy as np
import torch

from volseg.models import SegmentationModel
from volseg.train import predict_image
from volseg.train._predict import _tiles


class Pointwise(SegmentationModel):
    """A 1x1 convolution: every output pixel depends only on its input pixel."""

    alignment = 1

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 3, 1)
        self.in_channels, self.num_classes = 1, 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_tile_keep_regions_cover_every_pixel_once():
    for shape, tile, margin in [((300, 250), 128, 16), ((129, 64), 64, 8), ((50, 50), 64, 8)]:
        cover = np.zeros(shape, int)
        for ry, rx, ky, kx in _tiles(shape, tile, margin):
            assert ry.start <= ky.start and ky.stop <= ry.stop
            assert rx.start <= kx.start and kx.stop <= rx.stop
            cover[ky, kx] += 1
        assert (cover == 1).all(), shape


def test_tiled_prediction_equals_one_pass_for_a_pointwise_model():
    torch.manual_seed(0)
    model = Pointwise().eval()
    image = np.random.default_rng(0).normal(size=(301, 257)).astype(np.float32)
    cpu = torch.device("cpu")
    whole = predict_image(model, image, device=cpu, max_tile=1024)
    tiled = predict_image(model, image, device=cpu, max_tile=96, margin=8)
    assert whole.shape == (3, 301, 257)
    torch.testing.assert_close(tiled, whole)
