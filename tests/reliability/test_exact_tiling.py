"""Tiled = untiled: ``volseg segment`` with small tiles in small blocks writes the bytes of
a run with one tile per slice, for a model whose receptive field fits the context (an
integer network: its float32 sums are exact, so any difference is the tiler's)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zarr

from volseg.io import open_labels
from volseg.models import register_model, save_checkpoint
from volseg.models._registry import _REGISTRY
from volseg.phantom import PhantomConfig, generate_phantom
from volseg.segment import make_segment_config, segment
from volseg.testing import IntegerConvNet

SHAPE = (5, 60, 76)  # divides by nothing the tiles or blocks use


@pytest.fixture(scope="module")
def exact(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A phantom and an IntegerConvNet checkpoint (normalized by 16: still exact)."""
    root = tmp_path_factory.mktemp("exact")
    volume = generate_phantom(
        root / "vol.zarr", PhantomConfig(shape=SHAPE, seed=3), chunks=(1, 30, 38), progress=False
    ).path
    register_model("integer-net", IntegerConvNet, description="exact test net", replace=True)
    model = root / "model.pt"
    save_checkpoint(
        model,
        IntegerConvNet(seed=1),
        architecture="integer-net",
        arguments={"in_channels": 1, "num_classes": 3, "seed": 1},
        metadata={"normalization": {"mean": 128.0, "std": 16.0}},
    )
    try:
        yield volume, model
    finally:
        _REGISTRY.pop("integer-net", None)


def _run(exact: tuple[Path, Path], out: Path, **options: object) -> tuple[np.ndarray, np.ndarray]:
    volume, model = exact
    values = {"volume": str(volume), "model": str(model), "out": str(out), "device": "cpu"}
    config = make_segment_config(values | {"context": 8, "probabilities": "float16"} | options)
    result = segment(config, progress=False, inline=True)
    assert result.ok
    return (
        open_labels(out, "segmentation").values,
        np.asarray(zarr.open_group(out, mode="r")["probabilities"]),
    )


@pytest.mark.parametrize("window", ["gaussian", "uniform", "crop-centre"])
def test_tiled_blocks_equal_one_tile_per_slice(exact, tmp_path: Path, window: str) -> None:
    # one 80 px tile covers a 60 x 76 slice: no overlap, no blending
    labels, probs = _run(exact, tmp_path / "whole.zarr", tile=80, overlap=0)
    tiled_labels, tiled_probs = _run(
        exact, tmp_path / "tiled.zarr", tile=16, overlap=8, window=window, block_shape=(2, 30, 38)
    )
    np.testing.assert_array_equal(tiled_labels, labels)
    if window == "crop-centre":  # each pixel from one tile, unweighted: the same bits
        np.testing.assert_array_equal(tiled_probs, probs)
    else:  # a weighted mean of equal values: equal up to one float16 rounding step
        np.testing.assert_allclose(tiled_probs, probs, rtol=2**-10, atol=2**-24)
    assert set(np.unique(labels)) == {0, 1, 2}  # not vacuous: every class somewhere
