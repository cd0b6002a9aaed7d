from __future__ import annotations

import pytest
import torch

from volseg.models import UNet, unet_small


def test_unet_small_parameter_count_and_alignment():
    model = unet_small(in_channels=1, num_classes=2)
    assert sum(p.numel() for p in model.parameters()) == 1_943_778
    assert model.alignment == 16 == UNet.alignment


@pytest.mark.parametrize("hw", [(64, 64), (100, 77), (33, 45)])
@pytest.mark.parametrize("in_channels", [1, 3])
def test_unet_output_shape_equals_input_shape(hw, in_channels, seeded):
    model = unet_small(in_channels=in_channels, num_classes=3, width=4)
    out = model(torch.randn(2, in_channels, *hw))
    assert out.shape == (2, 3, *hw)
    assert torch.isfinite(out).all()
