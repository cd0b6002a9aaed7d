"""Tiled block inference equals a single pass for a model whose receptive field fits the
context (issue 5, test 6a)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from volseg.geometry import BlockGrid, Box
from volseg.infer import BlockPredictor, InferencePlan
from volseg.tiling import WindowKind

WINDOWS: list[WindowKind] = ["gaussian", "uniform", "crop-centre"]


def decide(probabilities: np.ndarray, offsets: np.ndarray | None) -> np.ndarray:
    """The reference decision: ``argmax_c(log p_c + offset_c)``, first class on ties."""
    if offsets is None:
        return probabilities.argmax(0).astype(np.uint8)
    with np.errstate(divide="ignore"):
        return (
            (np.log(probabilities) + offsets.reshape(-1, *[1] * (probabilities.ndim - 1)))
            .argmax(0)
            .astype(np.uint8)
        )


def predict_in_blocks(
    predictor: BlockPredictor, volume: np.ndarray, block_shape: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and float16 probabilities of ``volume`` assembled block by block."""
    labels = np.full(volume.shape, 255, np.uint8)
    probs = np.full((predictor.num_classes, *volume.shape), np.nan, np.float16)
    for block in BlockGrid(volume.shape, block_shape):
        region = predictor.read_region(block.box)
        result = predictor.predict(block.box, volume[region.slices], region)
        labels[block.box.slices] = result.labels
        assert result.probabilities is not None
        probs[(slice(None), *block.box.slices)] = result.probabilities
    return labels, probs


def make_predictor(
    model: Any,
    shape: tuple[int, ...],
    window: WindowKind,
    *,
    offsets: list[float] | None = None,
    batch_size: int = 3,
) -> BlockPredictor:
    plan = InferencePlan(
        volume_shape=tuple(shape),  # type: ignore[arg-type]
        tile=64,
        overlap=16,
        window=window,
        batch_size=batch_size,
        normalization=(0.0, 1.0),
        context=8,
        logit_offsets=None if offsets is None else tuple(offsets),
        outputs=frozenset({"labels", "probabilities"}),
        in_channels=model.in_channels,
    )
    return BlockPredictor(model, plan)


@pytest.mark.parametrize(
    ("window", "block_shape"),
    list(itertools.product(WINDOWS, [(2, 64, 64), (5, 128, 96)])),
)
def test_tiled_blocks_equal_a_single_pass(
    integer_volume: np.ndarray,
    integer_net: Any,
    single_pass: Any,
    window: WindowKind,
    block_shape: tuple[int, int, int],
) -> None:
    model = integer_net()
    assert model.receptive_radius <= 8
    reference = single_pass(model, integer_volume, context=8)
    predictor = make_predictor(model, integer_volume.shape, window)
    labels, probs = predict_in_blocks(predictor, integer_volume, block_shape)
    np.testing.assert_array_equal(labels, decide(reference, None))
    np.testing.assert_allclose(probs.astype(np.float32), reference, atol=1e-3, rtol=0)
    # not a vacuous comparison: every class is chosen somewhere
    assert set(np.unique(labels)) == {0, 1, 2}


def test_exact_blocks_with_logit_offsets_and_25d_input(
    integer_volume: np.ndarray, integer_net: Any, single_pass: Any
) -> None:
    model = integer_net(in_channels=3, seed=3)
    offsets = [0.0, -1.5, 0.7]
    reference = single_pass(model, integer_volume, context=8)
    predictor = make_predictor(model, integer_volume.shape, "gaussian", offsets=offsets)
    assert predictor.read_region(Box((0, 0, 0), (2, 64, 64))).start[0] == 0
    assert predictor.read_region(Box((2, 0, 0), (3, 64, 64))).shape[0] == 3
    labels, _ = predict_in_blocks(predictor, integer_volume, (2, 96, 64))
    expected = decide(reference, np.asarray(offsets, np.float32))
    np.testing.assert_array_equal(labels, expected)
    assert not np.array_equal(expected, decide(reference, None))


def test_crop_centre_probabilities_are_the_single_pass_bits(
    integer_volume: np.ndarray, integer_net: Any, single_pass: Any
) -> None:
    """With crop-centre each pixel comes from exactly one tile, unweighted."""
    model = integer_net(seed=5)
    reference = single_pass(model, integer_volume, context=8)
    predictor = make_predictor(model, integer_volume.shape, "crop-centre")
    _, probs = predict_in_blocks(predictor, integer_volume, (5, 100, 157))
    np.testing.assert_array_equal(probs, reference.astype(np.float16))
