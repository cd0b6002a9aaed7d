from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from volseg.errors import ConfigError
from volseg.models import DecoderStage, EncoderStage, SegNet, segnet

GOLDEN = Path(__file__).parent / "golden" / "segnet_w4.json"


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_full_segnet_has_matlab_vgg16_parameter_count():
    assert n_params(segnet(in_channels=1, num_classes=2, width=64)) == 29_443_010


def test_segnet_lite_parameter_count():
    assert n_params(segnet(in_channels=1, num_classes=2, width=16)) == 1_844_978


def test_segnet_layout_13_encoder_convs_mirrored_decoder():
    model = segnet(width=64)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    enc = [m for e in model.encoders for m in e.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(enc) == 13
    assert [e.out_channels for e in enc] == [64] * 2 + [128] * 2 + [256] * 3 + [512] * 6
    assert len(convs) == 26 and len(bns) == 25  # the class conv has no BatchNorm
    assert convs[-1].out_channels == 2 and convs[-1].kernel_size == (3, 3)
    assert model.alignment == 32


def test_extra_input_channels_change_only_the_first_conv():
    one, three = segnet(in_channels=1, width=8), segnet(in_channels=3, width=8)
    assert n_params(three) - n_params(one) == 2 * 9 * 8
    shapes1 = {k: v.shape for k, v in one.state_dict().items()}
    shapes3 = {k: v.shape for k, v in three.state_dict().items()}
    differing = [k for k in shapes1 if shapes1[k] != shapes3[k]]
    assert differing == ["encoders.0.convs.0.0.weight"]


@pytest.mark.parametrize("hw", [(64, 64), (100, 77), (33, 45)])
@pytest.mark.parametrize("in_channels", [1, 3])
def test_output_shape_equals_input_shape(hw, in_channels, seeded):
    model = segnet(in_channels=in_channels, num_classes=3, width=4)
    out = model(torch.randn(2, in_channels, *hw))
    assert out.shape == (2, 3, *hw)
    assert torch.isfinite(out).all()


def test_invalid_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="width must be a positive integer"):
        segnet(width=0)
    with pytest.raises(ConfigError, match="num_classes"):
        segnet(num_classes=2.5)  # type: ignore[arg-type]


def _identity_stage(stage: torch.nn.Module) -> None:
    """Make every ConvBNReLU of a 1-channel stage the identity (for positive inputs)."""
    for m in stage.modules():
        if isinstance(m, torch.nn.Conv2d):
            with torch.no_grad():
                m.weight.zero_()
                m.weight[0, 0, 1, 1] = 1.0
                m.bias.zero_()
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.fill_(1.0 - m.eps)
    stage.eval()


def test_unpooling_puts_each_maximum_back_where_it_was():
    x = torch.tensor(
        [
            [1.0, 2.0, 0.5, 0.1, 9.0],
            [3.0, 0.2, 0.3, 4.0, 0.4],
            [0.6, 0.7, 5.0, 0.8, 0.9],
            [6.0, 0.1, 0.2, 0.3, 7.0],
            [8.0, 0.5, 0.5, 0.5, 0.5],
        ]
    ).view(1, 1, 5, 5)
    enc, dec = EncoderStage([1, 1]), DecoderStage([1, 1])
    _identity_stage(enc)
    _identity_stage(dec)
    with torch.no_grad():
        pooled, indices, size = enc(x)
        assert tuple(size) == (5, 5)
        assert pooled.view(-1).tolist() == pytest.approx([3.0, 4.0, 6.0, 5.0])
        assert indices.view(-1).tolist() == [5, 8, 15, 12]  # flat positions in the 5x5 map
        out = dec(pooled, indices, size)
    expected = torch.zeros(5, 5)
    expected[1, 0], expected[1, 3], expected[3, 0], expected[2, 2] = 3.0, 4.0, 6.0, 5.0
    assert out.shape == (1, 1, 5, 5)
    torch.testing.assert_close(out.view(5, 5), expected)  # odd last row/col stays zero


def test_same_seed_gives_same_initial_weights():
    torch.manual_seed(123)
    a = segnet(width=4).state_dict()
    torch.manual_seed(123)
    b = segnet(width=4).state_dict()
    torch.manual_seed(124)
    c = segnet(width=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["encoders.0.convs.0.0.weight"], c["encoders.0.convs.0.0.weight"])


def test_golden_output_segnet_width4(smooth_image):
    torch.manual_seed(0)
    model: SegNet = segnet(in_channels=1, num_classes=2, width=4).eval()
    with torch.no_grad():
        logits = model(smooth_image(1, 1, 64, 64))
    got = {
        "shape": list(logits.shape),
        "sum": float(logits.double().sum()),
        "std": float(logits.double().std()),
        "class_means": [float(v) for v in logits.double().mean(dim=(0, 2, 3))],
        "corner": [float(v) for v in logits[0, :, 0, 0]],
    }
    if os.environ.get("VOLSEG_REFRESH_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=2) + "\n")
    want = json.loads(GOLDEN.read_text())
    assert got["shape"] == want["shape"]
    assert got["sum"] == pytest.approx(want["sum"], rel=1e-4, abs=1e-4)
    assert got["std"] == pytest.approx(want["std"], rel=1e-4)
    assert got["class_means"] == pytest.approx(want["class_means"], rel=1e-4, abs=1e-6)
    assert got["corner"] == pytest.approx(want["corner"], rel=1e-4, abs=1e-6)
