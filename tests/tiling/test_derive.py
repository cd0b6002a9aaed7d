"""Tile size, overlap, context, halo and batch size derived from model and device."""

from __future__ import annotations

import pytest

from volseg.errors import ConfigError
from volseg.tiling import (
    check_tile,
    derive_batch_size,
    derive_context,
    derive_halo,
    derive_tiling,
)


def test_default_tiles_follow_the_device_and_alignment() -> None:
    assert derive_tiling(alignment=32, device="cpu") == (512, 128)
    assert derive_tiling(alignment=32, device="cuda") == (1024, 256)
    assert derive_tiling(alignment=48, device="cpu") == (528, 144)
    assert derive_tiling(alignment=1, tile=100, overlap=0.25, device="cpu") == (100, 32)


def test_overlap_fraction_is_rounded_to_the_alignment_and_a_minimum() -> None:
    assert derive_tiling(alignment=32, tile=256, overlap=0.1, device="cpu") == (256, 32)
    assert derive_tiling(alignment=32, tile=256, overlap=0.3, device="cpu") == (256, 64)
    assert derive_tiling(alignment=2, tile=256, overlap=0.3, device="cpu") == (256, 76)
    assert derive_tiling(alignment=32, tile=256, overlap=0.0, device="cpu") == (256, 0)
    assert derive_tiling(alignment=32, tile=64, overlap=0.9, device="cpu") == (64, 32)
    assert derive_tiling(alignment=32, tile=256, overlap=48, device="cpu") == (256, 48)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tile": 500}, "not a multiple of the model alignment 32.*480 or 512"),
        ({"overlap": 1.0}, r"\[0, 1\)"),
        ({"overlap": 512}, r"\[0, 512\)"),
        ({"overlap": True}, "fraction or a pixel count"),
    ],
)
def test_bad_tilings_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        derive_tiling(alignment=32, device="cpu", **kwargs)  # type: ignore[arg-type]


def test_check_tile() -> None:
    check_tile(64, 32)
    with pytest.raises(ConfigError, match="alignment"):
        check_tile(64, 0)


def test_context_keeps_the_tile_input_aligned() -> None:
    assert derive_context(alignment=32) == 32
    assert derive_context(alignment=1) == 32
    assert derive_context(alignment=32, context=20) == 32
    assert derive_context(alignment=32, context=0) == 0
    assert derive_context(alignment=8, context=5) == 8
    assert derive_context(alignment=3, context=4) == 6
    for a in (1, 2, 3, 8, 32):
        assert (64 * a + 2 * derive_context(alignment=a, context=7)) % a == 0


def test_halo_bound() -> None:
    assert derive_halo(512, 128, 32, 32) == 543
    assert derive_halo(64, 16, 8, 5) == 63 + 8


def test_batch_size_rule() -> None:
    assert derive_batch_size(1024, "cuda") == 8
    assert derive_batch_size(512, "cpu") == 1
    assert derive_batch_size(128, "cpu") == 16
    # on CPU the model size does not change it (one 512² tile per pass is fastest)
    assert derive_batch_size(512, "cpu", model_params=29_443_010 // 16) == 1
    assert derive_batch_size(2048, "cpu") == 1
    assert derive_batch_size(1024, "cuda", model_params=29_443_010 // 16) == 32
    assert derive_batch_size(1024, "cuda", model_params=29_443_010 * 100) == 2
    with pytest.raises(ConfigError, match="device"):
        derive_batch_size(512, "tpu")  # type: ignore[arg-type]
