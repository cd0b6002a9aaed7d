"""Validation predicts with the predictor ``volseg segment`` ships, at its default plan."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from volseg.geometry import Box
from volseg.infer import BlockPredictor, InferencePlan
from volseg.io import VolumeStore
from volseg.metrics import confusion_matrix
from volseg.models import Checkpoint, build_model, load_checkpoint, predict_logits, save_checkpoint
from volseg.segment import make_segment_config, resolve_run
from volseg.testing import write_tiny_checkpoint
from volseg.train import Normalization, SliceSet, load_store, validate
from volseg.train._validate import P_MIN, as_volume, predict_slice, validation_plan

BOTH = frozenset({"labels", "probabilities"})
CPU = torch.device("cpu")


def _segment_plan(checkpoint: Checkpoint, volume: Path, tmp_path: Path) -> InferencePlan:
    """The plan ``volseg segment`` resolves at its defaults, asking for probabilities too."""
    config = make_segment_config(
        {"volume": str(volume), "model": str(checkpoint.path), "out": str(tmp_path / "o.zarr")}
    )
    run, source = resolve_run(config, VolumeStore.open(volume), checkpoint)
    assert source == "derived"
    return replace(run.plan, outputs=BOTH)


def _segment(checkpoint: Checkpoint, volume: Path, tmp_path: Path) -> tuple[np.ndarray, ...]:
    """Labels and probabilities of the whole volume, as ``volseg segment`` predicts them."""
    predictor = BlockPredictor(checkpoint.model, _segment_plan(checkpoint, volume, tmp_path))
    data = np.asarray(VolumeStore.open(volume).image(0)[:])
    box = Box.from_shape(data.shape)
    result = predictor.predict(box, data, box)
    assert result.probabilities is not None
    return result.labels, result.probabilities


def _write_volume(path: Path, image: np.ndarray) -> Path:
    store = VolumeStore.create(path, shape=image.shape, dtype=image.dtype, chunks=image.shape)
    store.image(0)[:] = image
    store.mark_complete()
    return path


@pytest.fixture
def slice_600(tmp_path: Path) -> tuple[np.ndarray, np.ndarray, Checkpoint]:
    """A 600 x 560 slice (more than one 512 px CPU tile each way), labels from intensity
    thresholds, and a 3-class checkpoint with BatchNorm statistics and logit offsets."""
    y, x = np.mgrid[:600, :560].astype(np.float32)
    noise = np.random.default_rng(0).normal(size=y.shape).astype(np.float32)
    image = 100 + 40 * (np.sin(y / 17) + np.cos(x / 23) + 0.3 * noise)
    labels = np.digitize(image, [70, 130]).astype(np.uint8)
    path = write_tiny_checkpoint(tmp_path / "m.pt", image[None])
    return image.astype(np.float32), labels, load_checkpoint(path)


def test_validation_plan_is_the_segment_default_plan(slice_600, tmp_path):
    image, _, ckpt = slice_600
    volume = _write_volume(tmp_path / "v.zarr", image[None])
    offsets = torch.tensor(ckpt.info.logit_offsets, dtype=torch.float64)
    mean, std = ckpt.info.normalization
    plan = validation_plan(
        ckpt.model,
        (1, *image.shape),
        Normalization(mean, std),
        device="cpu",
        logit_offsets=offsets,
        block=Box.from_shape((1, *image.shape)),
    )
    assert plan == _segment_plan(ckpt, volume, tmp_path)
    assert (plan.tile, plan.overlap, plan.window, plan.skip) == (512, 128, "gaussian", "empty")


def test_validation_scores_the_labels_and_probabilities_segment_gives(slice_600, tmp_path):
    image, labels, ckpt = slice_600
    volume = _write_volume(tmp_path / "v.zarr", image[None])
    ref_labels, ref_probs = _segment(ckpt, volume, tmp_path)
    mean, std = ckpt.info.normalization
    norm = Normalization(mean, std)
    offsets = torch.tensor(ckpt.info.logit_offsets, dtype=torch.float64)
    weights = torch.tensor([0.5, 1.0, 2.0])

    plan = validation_plan(ckpt.model, (1, *image.shape), norm, device="cpu", logit_offsets=offsets)
    pred, probs = predict_slice(BlockPredictor(ckpt.model, plan), *as_volume(image))
    np.testing.assert_array_equal(pred, ref_labels[0])
    np.testing.assert_array_equal(probs, ref_probs[:, 0])

    data = SliceSet([image], [labels], ["s"], ["background", "soma", "vessel"], "test")
    v = validate(ckpt.model, data, norm, weights=weights, device=CPU, logit_offsets=offsets)
    np.testing.assert_array_equal(v.confusion, confusion_matrix(ref_labels[0], labels, 3))
    # the loss: class-weighted negative log-likelihood of the blended probabilities
    p = np.take_along_axis(ref_probs[:, 0].astype(np.float64), labels[None].astype(int), 0)[0]
    w = weights.numpy().astype(np.float64)[labels]
    expected = float((w * -np.log(np.maximum(p, P_MIN))).sum() / w.sum())
    assert v.loss == pytest.approx(expected, rel=1e-5)

    # what the test tells apart: a single pass over the whole slice, and no offsets
    with torch.no_grad():
        x = (torch.from_numpy(image) - mean) / std
        logits = predict_logits(ckpt.model.eval(), x[None, None])[0] + offsets[:, None, None]
    assert (logits.argmax(0).numpy() != ref_labels[0]).sum() > 0
    plain = replace(plan, logit_offsets=None)
    assert (
        predict_slice(BlockPredictor(ckpt.model, plain), *as_volume(image))[0] != pred
    ).sum() > 0


def test_25d_validation_images_are_predicted_from_their_neighbouring_slices(tiny_store, tmp_path):
    torch.manual_seed(1)
    arguments = {"in_channels": 3, "num_classes": 3, "width": 4}
    model = build_model("unet-small", **arguments)
    norm = Normalization(float(tiny_store.image.mean()), float(tiny_store.image.std()))
    path = tmp_path / "m3.pt"
    meta = {"classes": tiny_store.classes, "normalization": norm.to_dict(), "logit_offsets": None}
    save_checkpoint(path, model, architecture="unet-small", arguments=arguments, metadata=meta)
    ckpt = load_checkpoint(path)
    ref_labels, ref_probs = _segment(ckpt, tiny_store.path, tmp_path)

    zs = [0, 2, 4]  # both edges: the edge slice repeated, as the predictor does
    data = load_store(tiny_store.path, slices=zs, channels=3)
    shape = data.images[0].shape
    plan = validation_plan(model, shape, norm, device="cpu", block=Box((1, 0, 0), (2, *shape[1:])))
    assert plan == replace(_segment_plan(ckpt, tiny_store.path, tmp_path), volume_shape=shape)
    predictor = BlockPredictor(model, plan)
    for z, image in zip(zs, data.images, strict=True):
        pred, probs = predict_slice(predictor, *as_volume(image))
        np.testing.assert_array_equal(probs, ref_probs[:, z])
        np.testing.assert_array_equal(pred, ref_labels[z])
    v = validate(model, data, norm, weights=None, device=CPU)
    expected = sum(confusion_matrix(ref_labels[z], tiny_store.labels[z], 3) for z in zs)
    np.testing.assert_array_equal(v.confusion, expected)
