"""BatchNorm folding for inference: same function, no BatchNorm left, original untouched."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from volseg.models import build_model, fuse_for_inference


@pytest.mark.parametrize("name", ["segnet-lite", "unet-small"])
def test_fused_model_computes_the_same_logits(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, in_channels=1, num_classes=3).eval()
    for m in model.modules():  # non-trivial statistics, so folding has something to do
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fused = fuse_for_inference(model)
    x = torch.randn(2, 1, 64, 96)
    with torch.inference_mode():
        ref, out = model(x), fused(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert n_bn > 0
    assert sum(isinstance(m, nn.BatchNorm2d) for m in fused.modules()) == 0
    assert (fused.alignment, fused.num_classes) == (model.alignment, model.num_classes)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training is False and fused.training is False
