"""The training loop end to end on a small synthetic task (real model, real data files)."""

from __future__ import annotations

import json

import pytest
import yaml

from volseg.errors import ConfigError
from volseg.models import load_checkpoint
from volseg.testing import run_volseg, write_blob_dataset
from volseg.train import TrainConfig, load_config, make_config, train


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    root = tmp_path_factory.mktemp("blobs")
    write_blob_dataset(root / "train", 6, (96, 96), seed=0)
    write_blob_dataset(root / "validate", 2, (96, 96), seed=1)
    return root


def _config(blobs, out, **kw) -> TrainConfig:
    values = {
        "train": {"source": str(blobs / "train")},
        "validation": {"source": str(blobs / "validate")},
        "out": str(out),
        "model": "segnet",
        "model_arguments": {"width": 4},
        "crop_size": 64,
        "crops": 24,
        "batch_size": 8,
        "epochs": 2,
        "threads": 2,
        "seed": 3,
    }
    values.update(kw)
    return make_config(values)


def test_a_run_writes_checkpoints_history_and_curves(blobs, tmp_path):
    result = train(_config(blobs, tmp_path / "run"), progress=False)
    out = tmp_path / "run"
    for name in (
        "config.yaml",
        "best.pt",
        "last.pt",
        "history.csv",
        "history.json",
        "curves.png",
        "summary.json",
    ):
        assert (out / name).is_file(), name
    history = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2]
    for key in (
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "val_iou_foreground",
        "val_bf1_foreground",
        "lr",
    ):
        assert key in history[0]
    assert yaml.safe_load((out / "config.yaml").read_text())["crops"] == 24
    ckpt = load_checkpoint(result.best_checkpoint, in_channels=1, num_classes=2)
    meta = ckpt.metadata
    assert meta["classes"] == ["background", "foreground"]
    assert set(meta["normalization"]) >= {"mean", "std"}
    assert meta["training"]["seed"] == 3 and len(meta["class_weights"]) == 2
    assert meta["class_weights"][1] > meta["class_weights"][0]  # rare class weighs more
    best = max(history, key=lambda r: r["val_iou_foreground"])
    assert meta["epoch"] == best["epoch"] == result.best_epoch


def test_same_seed_same_run(blobs, tmp_path):
    a = train(_config(blobs, tmp_path / "a", epochs=1), progress=False)
    b = train(_config(blobs, tmp_path / "b", epochs=1), progress=False)
    assert a.history[0]["train_loss"] == b.history[0]["train_loss"]
    assert load_checkpoint(a.last_checkpoint).sha256 == load_checkpoint(b.last_checkpoint).sha256
    c = train(_config(blobs, tmp_path / "c", epochs=1, seed=4), progress=False)
    assert c.history[0]["train_loss"] != a.history[0]["train_loss"]


def test_the_model_learns_an_easy_task(blobs, tmp_path):
    # unet-small converges in a few dozen steps; SegNet's batch-norm statistics need more
    # (the real-data acceptance run in docs/training.md shows SegNet learning)
    result = train(
        _config(
            blobs,
            tmp_path / "learn",
            model="unet-small",
            epochs=2,
            crops=96,
            lr=3e-3,
            batch_size=4,
            model_arguments={"width": 8},
        ),
        progress=False,
    )
    assert result.best_metrics["val_iou_foreground"] > 0.8, result.history
    first, last = (r["val_loss"] for r in (result.history[0], result.history[-1]))
    assert 0 < last < first, result.history


def test_config_errors_name_the_field(blobs, tmp_path):
    with pytest.raises(ConfigError, match="lr"):
        _config(blobs, tmp_path, lr=-1)
    with pytest.raises(ConfigError, match="bogus"):
        _config(blobs, tmp_path, bogus=1)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_yaml_paths_are_relative_to_the_file_and_flags_override(blobs, tmp_path):
    cfg_file = blobs / "recipe.yaml"
    cfg_file.write_text("train: train\nvalidation: validate\nepochs: 5\n")
    cfg = load_config(cfg_file, epochs=2, out=str(tmp_path / "o"))
    assert cfg.train.source == str(blobs / "train") and cfg.epochs == 2


def test_cli_train(blobs, tmp_path):
    cfg_file = tmp_path / "r.yaml"
    cfg_file.write_text(yaml.safe_dump(_config(blobs, tmp_path / "cli", epochs=1).resolved()))
    res = run_volseg("train", str(cfg_file), "--crops", "8", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "validation IoU(foreground)" in res.stdout
    assert json.loads((tmp_path / "cli" / "summary.json").read_text())["epochs_run"] == 1


def test_training_from_store_slices_with_25d_input(tmp_path):
    from volseg.phantom import PhantomConfig, generate_phantom
    from volseg.train import store_class_frequencies

    store = generate_phantom(
        tmp_path / "p.zarr", PhantomConfig(shape=(6, 96, 96), seed=2), progress=False
    )
    cfg = make_config(
        {
            "train": {"source": str(store.path), "slices": [1, 2, 3]},
            "validation": {"source": str(store.path), "slices": [4]},
            "out": str(tmp_path / "run"),
            "model": "segnet",
            "model_arguments": {"width": 4},
            "in_channels": 3,
            "crop_size": 64,
            "crops": 8,
            "batch_size": 4,
            "epochs": 1,
            "threads": 2,
        }
    )
    result = train(cfg, progress=False)
    ckpt = load_checkpoint(result.last_checkpoint, in_channels=3, num_classes=3)
    assert ckpt.metadata["classes"] == ["background", "soma", "vessel"]
    freq = store_class_frequencies(store.path, slices=[1, 2, 3])
    assert ckpt.metadata["class_frequencies"] == pytest.approx(list(freq))
    assert "val_iou_vessel" in result.history[0]


def test_prior_correction_offsets_are_stored_and_undo_the_weights(blobs, tmp_path):
    import numpy as np
    import torch

    from volseg.train import logit_offsets

    result = train(_config(blobs, tmp_path / "pc", epochs=1), progress=False)
    meta = load_checkpoint(result.last_checkpoint).metadata
    w = np.array(meta["class_weights"])
    np.testing.assert_allclose(meta["logit_offsets"], -np.log(w), rtol=1e-6)
    plain = train(_config(blobs, tmp_path / "np", epochs=1, prior_correction=False), progress=False)
    assert load_checkpoint(plain.last_checkpoint).metadata["logit_offsets"] is None
    # weights 0.2 and 1.8: the rare class loses log(9) of its score at the decision
    offsets = logit_offsets(torch.tensor([0.2, 1.8]))
    np.testing.assert_allclose(offsets[0] - offsets[1], np.log(9.0), rtol=1e-6)


def _segment_iou(checkpoint, volume, tmp_path) -> list[float]:
    """Per-class IoU over the slices of ``volume`` of the labels ``volseg segment``'s
    predictor gives with ``checkpoint`` at its default plan."""
    import numpy as np

    from volseg.geometry import Box
    from volseg.infer import BlockPredictor
    from volseg.io import GROUND_TRUTH, VolumeStore
    from volseg.metrics import confusion_matrix, metrics_from_confusion
    from volseg.segment import make_segment_config, resolve_run

    ckpt = load_checkpoint(checkpoint)
    store = VolumeStore.open(volume)
    config = make_segment_config(
        {"volume": str(volume), "model": str(checkpoint), "out": str(tmp_path / "seg.zarr")}
    )
    run, _ = resolve_run(config, store, ckpt)
    data = np.asarray(store.image(0)[:])
    box = Box.from_shape(data.shape)
    labels = BlockPredictor(ckpt.model, run.plan).predict(box, data, box).labels
    truth = np.asarray(store.labels(GROUND_TRUTH)[:])
    return [float(v) for v in metrics_from_confusion(confusion_matrix(labels, truth, 2))["iou"]]


def test_the_best_checkpoint_is_the_one_segment_scores_best(blobs, tmp_path):
    import numpy as np

    from volseg.io import GROUND_TRUTH, VolumeStore
    from volseg.train import load_folder

    # the validation slices as a volume, segmented the way `volseg segment` does
    val = load_folder(blobs / "validate")
    volume = tmp_path / "validate.zarr"
    store = VolumeStore.create(volume, shape=(2, 96, 96), dtype="float32", chunks=(1, 96, 96))
    store.image(0)[:] = np.stack(val.images)
    store.create_labels(GROUND_TRUTH, classes=val.classes)[:] = np.stack(val.labels)
    store.mark_complete()

    config = _config(
        blobs,
        tmp_path / "run",
        model="unet-small",
        model_arguments={"width": 8},
        epochs=5,
        crops=32,
        batch_size=4,
        lr=1e-2,
    )
    result = train(config, progress=False)
    ious = [r["val_iou_foreground"] for r in result.history]
    best = int(np.argmax(ious))
    assert best != len(ious) - 1, ious  # best.pt is not last.pt: the choice means something
    assert result.best_epoch == result.history[best]["epoch"]
    # validation scored exactly what segment gives for the weights it saved
    assert _segment_iou(result.best_checkpoint, volume, tmp_path)[1] == ious[best]
    assert _segment_iou(result.last_checkpoint, volume, tmp_path)[1] == ious[-1]


def test_early_stopping_and_sgd(blobs, tmp_path):
    # lr so small that validation IoU cannot improve after the first epoch: stops after
    # 1 + early_stopping epochs instead of running all 10
    cfg = _config(
        blobs,
        tmp_path / "es",
        optimizer="sgd",
        lr=1e-9,
        momentum=0.9,
        epochs=10,
        crops=8,
        early_stopping=2,
    )
    result = train(cfg, progress=False)
    assert len(result.history) == 3
    assert result.best_epoch == 1


def test_max_steps_stops_mid_epoch_and_validate_every_sets_the_validation_points(blobs, tmp_path):
    # 24 crops / batch 8 = 3 steps per epoch; 7 steps = 2 epochs + 1 step
    cfg = _config(blobs, tmp_path / "steps", epochs=5, max_steps=7, validate_every=3)
    result = train(cfg, progress=False)
    rows = result.history
    assert [(r["epoch"], r["step"]) for r in rows] == [(1, 3), (2, 6), (3, 7)]
    assert rows[-1]["train_seconds"] > 0 and all("val_loss" in r for r in rows)
    assert load_checkpoint(tmp_path / "steps" / "last.pt").metadata["step"] == 7
    per_epoch = train(_config(blobs, tmp_path / "epochs", epochs=2, max_steps=4), progress=False)
    assert [(r["epoch"], r["step"]) for r in per_epoch.history] == [(1, 3), (2, 4)]
