from __future__ import annotations

import pytest
import torch

from volseg.errors import ConfigError, InputError
from volseg.models import pad_to_alignment, predict_logits, segnet, unet_small


def test_pad_reflect_splits_pad_and_crop_gives_back_the_input():
    x = torch.arange(6, dtype=torch.float32).view(1, 1, 2, 3) + 1
    padded, crop = pad_to_alignment(x, 4)
    assert padded.shape == (1, 1, 4, 4)
    # rows: pad 2 -> 1 before, 1 after (reflect); cols: pad 1 -> 0 before, 1 after
    assert padded[0, 0].tolist() == [
        [4.0, 5.0, 6.0, 5.0],
        [1.0, 2.0, 3.0, 2.0],
        [4.0, 5.0, 6.0, 5.0],
        [1.0, 2.0, 3.0, 2.0],
    ]
    assert torch.equal(padded[crop], x)


def test_pad_falls_back_to_replicate_when_image_is_smaller_than_pad():
    x = torch.tensor([[[1.0, 2.0, 3.0]]])  # (C=1, H=1, W=3)
    padded, crop = pad_to_alignment(x, 8)
    assert padded.shape == (1, 8, 8)
    # H=1 cannot be reflected: replicated; W pad 5 -> 2 before, 3 after >= 3: replicated
    assert padded[0, 0].tolist() == [1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0]
    assert torch.equal(padded[0, 7], padded[0, 0])
    assert torch.equal(padded[crop], x)


def test_pad_constant_is_zero_and_aligned_input_is_unchanged():
    x = torch.ones(2, 1, 3, 32)
    padded, crop = pad_to_alignment(x, 32, mode="constant")
    assert padded.shape == (2, 1, 32, 32)
    assert padded.sum().item() == 2 * 3 * 32
    assert torch.equal(padded[crop], x)
    same, crop2 = pad_to_alignment(torch.ones(1, 1, 64, 32), 32)
    assert same.shape == (1, 1, 64, 32) and torch.equal(same[crop2], same)


def test_pad_rejects_bad_arguments():
    with pytest.raises(ConfigError, match="alignment"):
        pad_to_alignment(torch.ones(1, 1, 4, 4), 0)
    with pytest.raises(ConfigError, match="pad mode"):
        pad_to_alignment(torch.ones(1, 1, 4, 4), 4, mode="wrap")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"\(N, C, H, W\)"):
        pad_to_alignment(torch.ones(4, 4), 4)


@pytest.mark.parametrize("hw", [(64, 64), (100, 77), (33, 45), (20, 9)])
def test_predict_logits_crops_back_to_input_size(hw, seeded, smooth_image):
    model = segnet(num_classes=3, width=4).eval()
    x = smooth_image(2, 1, *hw)
    logits = predict_logits(model, x)
    assert logits.shape == (2, 3, *hw)
    padded, crop = pad_to_alignment(x, 32)
    with torch.no_grad():
        torch.testing.assert_close(logits, model(padded)[crop])
    assert not logits.requires_grad


def test_predict_logits_uses_model_alignment_and_checks_channels(seeded, smooth_image):
    model = unet_small(in_channels=3, width=4).eval()
    x = smooth_image(1, 3, 40, 24)
    padded, crop = pad_to_alignment(x, 16)
    assert padded.shape[-2:] == (48, 32)
    with torch.no_grad():
        torch.testing.assert_close(predict_logits(model, x), model(padded)[crop])
    with pytest.raises(InputError, match="takes 3 input channel"):
        predict_logits(model, smooth_image(1, 1, 32, 32))
