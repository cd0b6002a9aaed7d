"""``volseg study inputs``: whole vs segmented vs fine-tuned, paired by seed, on a real
LocalCluster with real training; bad inputs refused before any training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from volseg.errors import ConfigError, InputError
from volseg.models import load_checkpoint
from volseg.study import (
    load_input_study_config,
    metrics_for,
    paired_comparison,
    prepare_inputs,
    run_input_study,
)


@pytest.fixture
def inputs_yaml(study_data: Path, tmp_path: Path):
    def write(**overrides):
        values = {
            "train": str(study_data / "train"),
            "validation": str(study_data / "val"),
            "test": str(study_data / "test"),
            "out": str(tmp_path / "out"),
            "seeds": 2,
            "segmented": {"variant": "segmented", "dilate": 4},
            "retries": 0,
            "recipe": {
                "model": "segnet-lite",
                "batch_size": 4,
                "crop_size": 64,
                "crops": 8,
                "epochs": 2,
                "classes": ["bg", "dendrite"],
            },
        }
        values.update(overrides)
        path = tmp_path / "inputs.yaml"
        path.write_text(yaml.safe_dump(values))
        return path

    return write


def test_an_inputs_study_compares_the_recipes_paired_by_seed(inputs_yaml, client):
    cfg = load_input_study_config(inputs_yaml())
    result = run_input_study(cfg, progress=False, client=client)
    out = Path(cfg.out)
    assert result.ok and len(result.records) == 6
    rows = pd.read_csv(out / "results.csv")
    assert sorted(rows["run"]) == sorted(
        f"{r}-r{s}" for r in ("whole", "segmented", "finetune") for s in (0, 1)
    )
    assert {"test_iou_dendrite", "test_segmented_iou_dendrite", "final_train_loss"} <= set(rows)
    # fine-tuning started from the segmented run of the same seed, its encoder unchanged
    for seed in (0, 1):
        pre = load_checkpoint(out / f"runs/segmented-r{seed}/train/best.pt")
        fine = load_checkpoint(out / f"runs/finetune-r{seed}/train/last.pt")
        assert fine.metadata["init"]["sha256"] == pre.sha256
        assert fine.metadata["frozen"] == ["encoders"]
        a, b = pre.model.state_dict(), fine.model.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("encoders."))
        assert pre.metadata["inputs"]["variant"] == "segmented"
    table = pd.read_csv(out / "comparison.csv")
    assert set(table["recipe"]) == {"segmented", "finetune"}
    iou = table[(table["recipe"] == "segmented") & (table["metric"] == "IoU dendrite")].iloc[0]
    by = {(r["recipe"], r["seed"]): r for r in result.records}
    finite = sum(
        a["iou_dendrite"] is not None and b["iou_dendrite"] is not None
        for s in (0, 1)
        for a, b in zip(by["whole", s]["per_image"], by["segmented", s]["per_image"], strict=True)
    )
    assert iou["n_pairs"] == finite and 2 <= finite <= 2 * 3  # pairs: seed x test image
    for name in ("curves.png", "boxes.png", "overlay_whole.png", "report.md", "report.html"):
        assert (out / name).is_file(), name
    assert "**segmented** vs whole" in result.answer
    seg = json.loads((out / "runs/whole-r0/result.json").read_text())
    assert len(seg["per_image_segmented"]) == 3
    again = run_input_study(cfg, progress=False, client=client)
    assert again.ok and again.summary is None


def test_paired_comparison_finds_a_consistent_difference():
    records = []
    rng = np.random.default_rng(0)
    for seed in range(5):
        for recipe, shift in (("whole", 0.0), ("segmented", 0.05), ("finetune", 0.0)):
            per_image = [
                {"accuracy": 0.9, "iou_fg": 0.6 + shift + rng.normal(0, 0.005) + i / 100}
                for i in range(10)
            ]
            records.append(
                {
                    "recipe": recipe,
                    "seed": seed,
                    "per_image": per_image,
                    "final_train_loss": 0.3,
                    "final_val_loss": 0.3 + rng.normal(0, 0.01),
                }
            )
    metrics = [m for m in metrics_for("fg") if "BF1" not in m.name]
    table = paired_comparison(records, metrics, n_boot=2000).set_index(["recipe", "metric"])
    seg = table.loc[("segmented", "IoU fg")]
    assert seg["significant"] and seg["diff"] == pytest.approx(0.05, abs=0.005)
    assert seg["diff_ci_low"] > 0.04 and seg["effect_size"] == 1.0 and seg["n_pairs"] == 50
    assert not table.loc[("finetune", "IoU fg")]["significant"]
    assert table.loc[("segmented", "final train loss")]["p"] == 1.0  # identical: no difference


def test_bad_inputs_are_refused_before_training(inputs_yaml, tmp_path, study_data):
    with pytest.raises(ConfigError, match=r"freeze names no module 'encoder.9'.*valid: encoders"):
        prepare_inputs(load_input_study_config(inputs_yaml(freeze=["encoder.9"])), progress=False)
    missing = {"variant": "segmented", "region": "mask", "mask": str(tmp_path / "nope")}
    with pytest.raises(InputError, match=r"region mask folder .*nope does not exist"):
        prepare_inputs(load_input_study_config(inputs_yaml(segmented=missing)), progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    for part in ("train", "val"):
        for f in (study_data / part / "images").iterdir():
            Image.fromarray(np.zeros((160, 160), np.uint8)).save(empty / f.name)
    masked = {"variant": "segmented", "region": "mask", "mask": str(empty)}
    with pytest.raises(InputError, match=r"region of interest .* is empty on every slice"):
        prepare_inputs(load_input_study_config(inputs_yaml(segmented=masked)), progress=False)
    for f in empty.iterdir():
        Image.fromarray(np.ones((100, 160), np.uint8)).save(f)
    with pytest.raises(InputError, match=r"\(100, 160\) \(H, W\) but the image is \(160, 160\)"):
        prepare_inputs(load_input_study_config(inputs_yaml(segmented=masked)), progress=False)
    with pytest.raises(ConfigError, match=r"finetune starts from the segmented runs"):
        load_input_study_config(inputs_yaml(recipes=["whole", "finetune"]))
    with pytest.raises(ConfigError, match=r"seed is set by the study"):
        load_input_study_config(inputs_yaml(recipe={"seed": 3}))
    assert not (tmp_path / "out" / "runs").exists()
