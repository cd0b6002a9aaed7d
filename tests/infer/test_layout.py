"""Outputs do not depend on how the volume is split into blocks (invariant 5; issue 5, 6c)."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from volseg.geometry import BlockGrid
from volseg.infer import BlockPredictor, InferencePlan
from volseg.tiling import WindowKind

LAYOUTS = [(3, 150, 130), (1, 64, 64), (2, 96, 32), (3, 37, 130)]


@pytest.fixture
def volume() -> np.ndarray:
    rng = np.random.default_rng(3)
    z, y, x = np.mgrid[0:3, 0:150, 0:130].astype(np.float32)
    return np.sin(y / 7.0 + z) * np.cos(x / 11.0) + rng.normal(0, 0.3, z.shape).astype(np.float32)


def assemble(
    predictor: BlockPredictor, volume: np.ndarray, block_shape: tuple[int, int, int]
) -> dict[str, np.ndarray]:
    out = {
        "labels": np.zeros(volume.shape, np.uint8),
        "probabilities": np.zeros((3, *volume.shape), np.float16),
        "uncertainty": np.zeros(volume.shape, np.float16),
    }
    for block in BlockGrid(volume.shape, block_shape):
        region = predictor.read_region(block.box)
        result = predictor.predict(block.box, volume[region.slices], region)
        out["labels"][block.box.slices] = result.labels
        out["probabilities"][(slice(None), *block.box.slices)] = result.probabilities
        out["uncertainty"][block.box.slices] = result.uncertainty
    return out


@pytest.mark.parametrize(
    ("window", "layouts", "device"),
    [
        ("gaussian", LAYOUTS, "cpu"),
        ("crop-centre", LAYOUTS[:2], "cpu"),
        ("uniform", [LAYOUTS[0], LAYOUTS[3]], "cpu"),
        # the same device-resident pipeline on CUDA (bf16 autocast, blending on the GPU)
        pytest.param("gaussian", LAYOUTS, "cuda", marks=pytest.mark.gpu),
    ],
)
def test_segnet_outputs_are_bit_identical_across_block_layouts(
    random_segnet: nn.Module, volume: np.ndarray, window: WindowKind, layouts: list, device: str
) -> None:
    plan = InferencePlan(
        device=device,  # type: ignore[arg-type]
        volume_shape=volume.shape,
        tile=64,
        overlap=32,
        window=window,
        batch_size=3,
        normalization=(0.0, 1.0),
        context=16,
        outputs=frozenset({"labels", "probabilities", "uncertainty"}),
    )
    predictor = BlockPredictor(random_segnet, plan)
    first = assemble(predictor, volume, layouts[0])
    # the labels are not trivial: SegNet's random features choose every class
    assert len(np.unique(first["labels"])) == 3
    for layout in layouts[1:]:
        other = assemble(predictor, volume, layout)
        for name, array in first.items():
            assert np.array_equal(array, other[name]), (name, layout)
    if window == "crop-centre":
        assert not first["uncertainty"].any()
    else:
        assert first["uncertainty"].max() > 0
