"""ModelInfo: a checkpoint's class names, normalization, logit offsets and voxel size, typed
and checked once at load."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from volseg.errors import CheckpointError
from volseg.models import ModelInfo, build_model, load_checkpoint, save_checkpoint

ARGS = {"in_channels": 1, "num_classes": 3, "width": 4}
META = {
    "classes": ["background", "soma", "vessel"],
    "normalization": {"mean": 0.45, "std": 0.12},
    "logit_offsets": [0.5, -1.25, 0.0],
    "voxel_size": [2, 0.65, 0.65],
    "metrics": {"iou": 0.81},
}


def test_entries_are_typed() -> None:
    info = ModelInfo.parse(META, num_classes=3, source="m.pt")
    assert info == ModelInfo(
        classes=("background", "soma", "vessel"),
        normalization=(0.45, 0.12),
        logit_offsets=(0.5, -1.25, 0.0),
        voxel_size=(2.0, 0.65, 0.65),
    )
    assert all(isinstance(v, float) for v in info.voxel_size or ())


@pytest.mark.parametrize("absent", [{}, dict.fromkeys(META)])
def test_absent_or_null_entries_take_the_defaults(absent: dict[str, Any]) -> None:
    # training writes null offsets without prior correction and a null voxel size when the
    # images have none; a model volseg did not train has no normalization
    info = ModelInfo.parse(absent, num_classes=3, source="m.pt")
    assert info == ModelInfo(
        classes=("class 0", "class 1", "class 2"),
        normalization=None,
        logit_offsets=None,
        voxel_size=None,
    )


@pytest.mark.parametrize(
    ("key", "value", "want"),
    [
        ("classes", ["background", "soma"], "a list of 3 class names"),
        ("classes", ["background", "", "vessel"], "a list of 3 class names"),
        ("classes", [0, 1, 2], "a list of 3 class names"),
        ("classes", "background soma vessel", "a list of 3 class names"),
        ("normalization", {"mean": 0.4}, "{'mean': float, 'std': float > 0}"),
        ("normalization", {"mean": 0.4, "std": 0.0}, "{'mean': float, 'std': float > 0}"),
        ("normalization", {"mean": "x", "std": 1.0}, "{'mean': float, 'std': float > 0}"),
        ("normalization", {"mean": math.nan, "std": 1.0}, "{'mean': float, 'std': float > 0}"),
        ("normalization", [0.4, 0.1], "{'mean': float, 'std': float > 0}"),
        ("logit_offsets", [0.0, 1.0], "3 finite numbers (one per class)"),
        ("logit_offsets", [0.0, math.inf, 1.0], "3 finite numbers (one per class)"),
        ("logit_offsets", "0 0 0", "3 finite numbers (one per class)"),
        ("voxel_size", [0.65, 0.65], "three positive numbers (z, y, x) in micrometres"),
        ("voxel_size", [1.0, 0.0, 1.0], "three positive numbers (z, y, x) in micrometres"),
        ("voxel_size", [1.0, -0.5, 1.0], "three positive numbers (z, y, x) in micrometres"),
        ("voxel_size", ["a", 1.0, 1.0], "three positive numbers (z, y, x) in micrometres"),
    ],
)
def test_a_malformed_entry_names_the_checkpoint_the_key_and_the_fix(
    key: str, value: Any, want: str
) -> None:
    with pytest.raises(CheckpointError) as exc:
        ModelInfo.parse({**META, key: value}, num_classes=3, source="runs/best.pt")
    assert str(exc.value) == (
        f"checkpoint runs/best.pt: metadata[{key!r}] = {value!r} is not {want}; "
        "re-save the checkpoint with volseg, or fix that entry"
    )


@pytest.fixture
def model(seeded: None) -> torch.nn.Module:
    return build_model("segnet", **ARGS).eval()


def test_round_trip_through_save_and_load(tmp_path, model) -> None:
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, architecture="segnet", arguments=ARGS, metadata=META)
    ckpt = load_checkpoint(path)
    assert ckpt.info == ModelInfo.parse(META, num_classes=3, source=str(path))
    assert ckpt.info.classes == ("background", "soma", "vessel")
    assert ckpt.info.normalization == (0.45, 0.12)
    # the raw entries stay as stored
    assert ckpt.metadata["voxel_size"] == [2, 0.65, 0.65]


def test_load_refuses_a_malformed_entry_naming_the_file(tmp_path, model) -> None:
    path = tmp_path / "model.pt"
    meta = {**META, "logit_offsets": [0.0, 1.0]}
    save_checkpoint(path, model, architecture="segnet", arguments=ARGS, metadata=meta)
    with pytest.raises(CheckpointError, match=rf"checkpoint {path}: metadata\['logit_offsets'\]"):
        load_checkpoint(path)


def test_a_class_count_mismatch_names_the_checkpoints_classes(tmp_path, model) -> None:
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, architecture="segnet", arguments=ARGS, metadata={})
    with pytest.raises(CheckpointError, match=r"predicts 3 classes \(class 0, class 1, class 2\)"):
        load_checkpoint(path, num_classes=2)
