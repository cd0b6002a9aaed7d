"""How much tiling changes labels (issue 5, test 6b), measured with tiling_disagreement."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from volseg.geometry import Box
from volseg.infer import tiling_disagreement
from volseg.models import segnet
from volseg.phantom import PhantomConfig, draw_scene, render


@pytest.fixture(scope="module")
def phantom_slice() -> np.ndarray:
    config = PhantomConfig(shape=(1, 256, 256), seed=1)
    image, _ = render(draw_scene(config), Box.from_shape(config.shape))
    return image


def test_no_disagreement_when_the_receptive_field_fits_the_context(
    integer_net: Any, integer_volume: np.ndarray
) -> None:
    records = tiling_disagreement(
        integer_net(), integer_volume[:2], tile=64, overlaps=[0, 16, 32], context=8
    )
    assert [(r["window"], r["overlap"]) for r in records] == [
        (w, o) for w in ("gaussian", "uniform", "crop-centre") for o in (0, 16, 32)
    ]
    assert all(r["disagreement"] == 0.0 for r in records)
    assert records[0]["pixels"] == 2 * 203 * 157 and records[0]["context"] == 8


def test_segnet_tiling_disagreement_on_a_phantom_slice(
    phantom_slice: np.ndarray, calibrate: Any
) -> None:
    torch.manual_seed(0)
    image = phantom_slice
    x = torch.from_numpy(((image - image.mean()) / image.std()).astype(np.float32))[:, None]
    model = calibrate(segnet(width=4, num_classes=2), x)
    records = tiling_disagreement(model, image, tile=128, overlaps=[0, 16, 64], context=32)
    by = {(r["window"], r["overlap"]): r["disagreement"] for r in records}
    assert all(0.0 <= d <= 1.0 for d in by.values())
    # one tile per pixel at overlap 0: the window does not matter
    assert by[("gaussian", 0)] == pytest.approx(by[("crop-centre", 0)], abs=1e-3)
    assert by[("uniform", 0)] == pytest.approx(by[("crop-centre", 0)], abs=1e-3)
    # SegNet sees far beyond a 32-px context, so tiling is not exact for it ...
    assert min(by.values()) > 0
    # ... and more overlap does not make it worse
    for window in ("gaussian", "uniform", "crop-centre"):
        assert by[(window, 64)] <= by[(window, 16)]
    # a tile as large as the slice, run alone, is the single pass itself
    whole = tiling_disagreement(
        model, image, tile=256, overlaps=[0], windows=["gaussian"], context=32, batch_size=1
    )
    assert whole[0]["disagreement"] == 0.0
