"""BlockPredictor behaviour: outputs, empty-tile skipping, stats, errors; the plan and the
per-worker predictor."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from volseg.errors import CheckpointError, ConfigError, GeometryError, InputError
from volseg.geometry import Box
from volseg.infer import BlockPredictor, InferencePlan, worker_predictor
from volseg.models import load_checkpoint, save_checkpoint, segnet


def predictor_for(model: Any, shape: tuple[int, int, int], **kwargs: Any) -> BlockPredictor:
    options: dict[str, Any] = {
        "volume_shape": shape,
        "tile": 64,
        "overlap": 16,
        "batch_size": 4,
        "normalization": (0.0, 1.0),
        "context": 8,
    }
    options.update(kwargs)
    return BlockPredictor(model, InferencePlan(**options))


def test_empty_tiles_are_skipped_and_background(integer_net: Any) -> None:
    volume = np.zeros((2, 200, 150), np.uint8)
    volume[:, 70:130, 40:110] = np.random.default_rng(0).integers(1, 8, (2, 60, 70))
    model = integer_net()
    box = Box.from_shape(volume.shape)
    outputs = frozenset({"probabilities"})
    run_all = predictor_for(model, volume.shape, window="crop-centre", outputs=outputs)
    skip = predictor_for(model, volume.shape, window="crop-centre", outputs=outputs, skip="empty")
    full, skipped = run_all.predict(box, volume, box), skip.predict(box, volume, box)
    assert full.stats.tiles_run == 2 * len(run_all.grid) == 2 * 12
    assert skipped.stats.tiles_run + skipped.stats.tiles_skipped == full.stats.tiles_run
    assert skipped.stats.forward_passes == -(-skipped.stats.tiles_run // 4)
    data = Box((70, 40), (130, 110))
    ran = 0
    assert skipped.probabilities is not None
    for tile in skip.grid.tiles():
        sees_data = tile.box.grow(skip.plan.context).intersects(data)
        ran += 2 * sees_data
        owned = (slice(None), *tile.owned.slices)
        if sees_data:  # run: the very labels of the full run
            np.testing.assert_array_equal(skipped.labels[owned], full.labels[owned])
        else:  # skipped: background with probability 1
            assert (skipped.labels[owned] == 0).all()
            assert (skipped.probabilities[(0, *owned)] == 1.0).all()
    assert skipped.stats.tiles_run == ran and 0 < ran < 24


def test_uint8_probabilities_and_stats(integer_net: Any, integer_volume: np.ndarray) -> None:
    block = Box((1, 10, 20), (3, 90, 100))
    p16 = predictor_for(integer_net(), integer_volume.shape, outputs=frozenset({"probabilities"}))
    p8 = predictor_for(
        integer_net(),
        integer_volume.shape,
        outputs=frozenset({"probabilities"}),
        probability_dtype="uint8",
    )
    region = p16.read_region(block)
    a = p16.predict(block, integer_volume[region.slices], region)
    b = p8.predict(block, integer_volume[region.slices], region)
    assert a.probabilities is not None and b.probabilities is not None
    assert a.probabilities.dtype == np.float16 and b.probabilities.dtype == np.uint8
    assert a.probabilities.shape == (3, 2, 80, 80) and a.uncertainty is None
    np.testing.assert_allclose(b.probabilities / 255.0, a.probabilities, atol=1 / 255)
    np.testing.assert_allclose(a.probabilities.astype(np.float32).sum(0), 1.0, atol=2e-3)
    tiles = len(p16.grid.tiles_touching(10, 90, 20, 100))
    assert a.stats.tiles_run == 2 * tiles and a.stats.tiles_skipped == 0
    assert a.stats.forward_passes == -(-2 * tiles // 4)
    assert a.stats.padded_slots == a.stats.forward_passes * 4 - 2 * tiles
    assert a.stats.seconds > 0


def test_uncertainty_is_tile_disagreement(random_segnet: Any) -> None:
    volume = np.random.default_rng(1).normal(0, 1, (1, 120, 120)).astype(np.float32)
    predictor = predictor_for(
        random_segnet,
        volume.shape,
        overlap=32,
        context=16,
        outputs=frozenset({"uncertainty"}),
    )
    box = Box.from_shape(volume.shape)
    u = predictor.predict(box, volume, box).uncertainty
    assert u is not None and u.dtype == np.float16
    assert u.min() >= 0 and u.max() <= 1
    # pixels seen by one tile only (the slice corner) have no disagreement
    assert not u[0, :32, :32].any()
    assert u[0, 32:96, 32:96].max() > 0


def test_inputs_are_checked(integer_net: Any, integer_volume: np.ndarray) -> None:
    predictor = predictor_for(integer_net(), integer_volume.shape)
    block = Box((0, 0, 0), (1, 64, 64))
    region = predictor.read_region(block)
    with pytest.raises(GeometryError, match=r"read BlockPredictor\.read_region"):
        predictor.predict(block, integer_volume[:1, :64, :64], Box((0, 0, 0), (1, 64, 64)))
    with pytest.raises(InputError, match="data shape"):
        predictor.predict(block, integer_volume[:1, :10, :10], region)
    bad = integer_volume[region.slices].astype(np.float32)
    bad[0, 5, 7] = np.nan
    with pytest.raises(InputError, match=r"\(z, y, x\) = \(0, 5, 7\)"):
        predictor.predict(block, bad, region)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"normalization": (0.0, 0.0)}, "std > 0"),
        ({"logit_offsets": [0.0]}, "one per class"),
        ({"outputs": frozenset({"logits"})}, "outputs"),
        ({"skip": "all"}, "skip"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_bad_options_are_refused(integer_net: Any, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        predictor_for(integer_net(), (2, 100, 100), **kwargs)


def _checkpoint(tmp_path: Path) -> tuple[Path, str]:
    torch.manual_seed(0)
    path = tmp_path / "model.pt"
    digest = save_checkpoint(
        path,
        segnet(width=4),
        architecture="segnet",
        arguments={"in_channels": 1, "num_classes": 2, "width": 4},
        metadata={"normalization": {"mean": 0.5, "std": 0.25}, "logit_offsets": [0.0, 0.3]},
    )
    return path, digest


def test_the_plan_is_resolved_from_the_checkpoint_once(tmp_path: Path) -> None:
    path, _ = _checkpoint(tmp_path)
    ckpt = load_checkpoint(path)
    plan = InferencePlan.resolve(ckpt, volume_shape=(2, 300, 200), device="cpu")
    # overlapping tiles need no context by default (their borders carry ~no weight)
    assert (plan.tile, plan.overlap, plan.context) == (512, 128, 0)
    assert (
        InferencePlan.resolve(ckpt, volume_shape=(2, 300, 200), device="cpu", overlap=0).context
        == 32
    )
    assert plan.normalization == (0.5, 0.25)
    assert plan.logit_offsets == pytest.approx((0.0, 0.3))
    assert plan.batch_size == 1  # CPU: one tile per pass is the fastest (cache-resident)
    # a full block caps the batch: a pass is never padded beyond the tiles a block has
    block = Box((0, 0, 0), (1, 300, 200))
    big = InferencePlan.resolve(ckpt, volume_shape=(2, 300, 200), device="cuda", block=block)
    assert big.batch_size == 1
    # plain JSON round trip, and the hash is the identity
    again = InferencePlan.from_json(json.loads(json.dumps(plan.to_json())))
    assert again == plan and again.hash == plan.hash
    assert InferencePlan.from_json({**plan.to_json(), "tile": 256}).hash != plan.hash
    with pytest.raises(ConfigError, match="normalization"):
        InferencePlan.resolve(
            replace(ckpt, info=replace(ckpt.info, normalization=None)),
            volume_shape=(2, 300, 200),
            device="cpu",
        )


def test_one_predictor_per_worker_process_reused_across_blocks(tmp_path: Path) -> None:
    path, digest = _checkpoint(tmp_path)
    plan = InferencePlan.resolve(load_checkpoint(path), volume_shape=(2, 300, 200), device="cpu")
    first = worker_predictor(path, digest, plan)
    assert worker_predictor(str(path), digest.upper(), plan) is first
    # the predictor keeps only the folded model: no BatchNorm, channels-last, eval mode
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in first.model.modules())
    assert not first.model.training
    other = worker_predictor(path, digest, replace(plan, window="uniform"))
    assert other is not first and other.plan.window == "uniform"
    with pytest.raises(CheckpointError, match="expected"):
        worker_predictor(path, "0" * 64, plan)


def test_fast_decision_equals_log_argmax_with_first_class_on_ties() -> None:
    from volseg.infer._blend import decide, offset_scale

    rng = np.random.default_rng(3)
    p = rng.random((4, 64, 80), dtype=np.float32)
    p /= p.sum(0)
    p[:, :4, :4] = 0.25  # four-way ties
    p[1:, 4:8, :4] = 0.0  # zeros: log(0) = -inf
    p[0, 4:8, :4] = 1.0
    offsets = np.array([0.0, -1.2, 0.4, -0.3], np.float32)
    with np.errstate(divide="ignore"):
        reference = (np.log(p) + offsets[:, None, None]).argmax(0)
    t = torch.from_numpy(p)
    scale = offset_scale(tuple(offsets.tolist()), torch.device("cpu"))
    assert np.array_equal(decide(t, scale).numpy(), reference)
    assert np.array_equal(decide(t, None).numpy(), p.argmax(0))
    assert decide(t, None)[:4, :4].max() == 0  # ties go to the first class
