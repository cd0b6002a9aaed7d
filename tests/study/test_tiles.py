"""The inference tiling study (issue 11, requirement 7): a real tiny checkpoint on a real
phantom store, timed through the predictor ``volseg segment`` runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from volseg.errors import ConfigError, InputError, InputNotFoundError
from volseg.geometry import Box
from volseg.infer import (
    BlockPredictor,
    InferencePlan,
    TileChoice,
    device_name,
    lookup_tile_choice,
    plane_bucket,
    store_tile_choice,
    tile_cache_path,
    tiling_disagreement,
)
from volseg.io import open_labels, open_volume
from volseg.metrics import bf1, iou_per_class
from volseg.models import load_checkpoint
from volseg.study._tile_rule import choose_tiling, default_tiles, sample_slices
from volseg.study._tiles import study_tiles
from volseg.testing import write_labels_store

pytestmark = pytest.mark.usefixtures("cache_dir")  # a fresh tile cache per test


@pytest.fixture(scope="module")
def inputs(tile_inputs: tuple[Path, Path]) -> tuple[Path, Path]:
    return tile_inputs


@pytest.fixture(scope="module")
def study(inputs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):
    vol, ckpt = inputs
    # tile 128 covers the 128-px slice: the single pass again, through the tiled path
    return study_tiles(
        ckpt,
        vol,
        tiles=[32, 128],
        overlaps=[0, 16],
        slices=[1, 2],
        truth=vol,
        device="cpu",
        repeats=1,
        cache=False,
        progress=False,
        out=tmp_path_factory.mktemp("study") / "out",
    )


def _row(study, tile: int, overlap: int, window: str) -> dict:
    (row,) = [
        r
        for r in study.rows
        if not r["reference"] and (r["tile"], r["overlap"], r["window"]) == (tile, overlap, window)
    ]
    return row


def test_the_single_pass_is_the_reference_and_a_whole_slice_tile_reproduces_it(study) -> None:
    ref = study.rows[0]
    assert ref["setting"] == "single pass" and ref["reference"]
    assert (ref["tile"], ref["overlap"], ref["batch_size"], ref["tiles"]) == (128, 0, 1, 2)
    assert ref["disagreement"] == 0.0
    # the same slice through the tiled path with the derived batch: the same labels
    for window in ("gaussian", "uniform", "crop-centre"):
        assert _row(study, 128, 0, window)["disagreement"] == 0.0
    assert len(study.rows) == 1 + 2 * 2 * 3
    assert all(r["voxels"] == 2 * 128 * 128 and r["voxels_per_s"] > 0 for r in study.rows)


def test_small_tiles_change_labels_and_the_window_does_not_matter_without_overlap(
    study, inputs: tuple[Path, Path]
) -> None:
    vol, ckpt = inputs
    uniform, crop = _row(study, 32, 0, "uniform"), _row(study, 32, 0, "crop-centre")
    assert uniform["tiles"] == crop["tiles"] == 2 * 16  # 4 x 4 tiles of 32 px per slice
    # one tile per pixel: the same labels whatever the window (weights 1 / 1)
    assert uniform["disagreement"] == crop["disagreement"]
    assert _row(study, 32, 0, "gaussian")["disagreement"] == pytest.approx(
        uniform["disagreement"], abs=2 / uniform["voxels"]
    )
    # the model sees far beyond its 32 px of context: tiling changes labels measurably
    assert 0.001 < uniform["disagreement"] < 0.2
    # the same numbers as the benchmark's tiling_disagreement
    c = load_checkpoint(ckpt)
    image = open_volume(vol).values[1:3].astype(np.float32)
    norm = c.metadata["normalization"]
    records = tiling_disagreement(
        c.model,
        image,
        tile=32,
        overlaps=[16],
        context=32,
        normalization=(norm["mean"], norm["std"]),
        logit_offsets=c.metadata["logit_offsets"],
    )
    for rec in records:
        assert _row(study, 32, rec["overlap"], rec["window"])["disagreement"] == rec["disagreement"]


def _predict(ckpt: Path, image: np.ndarray, row: dict) -> np.ndarray:
    """Labels of ``row``'s setting through the predictor ``volseg segment`` builds."""
    checkpoint = load_checkpoint(ckpt)
    plan = InferencePlan.resolve(
        checkpoint,
        volume_shape=image.shape,
        device="cpu",
        tile=row["tile"],
        overlap=row["overlap"],
        context=row["context"],
        window=row["window"],
        batch_size=row["batch_size"],
        skip="none" if row["reference"] else "empty",
    )
    box = Box.from_shape(image.shape)
    return BlockPredictor(checkpoint.model, plan).predict(box, image, box).labels


def test_disagreement_and_truth_scores_are_recomputed_exactly(
    study, inputs: tuple[Path, Path]
) -> None:
    vol, ckpt = inputs
    image = open_volume(vol).values[1:3]
    gt = open_labels(vol, "ground_truth").values[1:3]
    reference = _predict(ckpt, image, study.rows[0])
    row = _row(study, 32, 16, "gaussian")
    labels = _predict(ckpt, image, row)
    assert row["disagreement"] == float(np.mean(labels != reference)) > 0
    expected_iou = iou_per_class(labels, gt, 3)
    for k, name in enumerate(study.classes):
        assert row[f"iou_{name}"] == pytest.approx(expected_iou[k])
        per_slice = [bf1(labels[z] == k, gt[z] == k) for z in range(2)]
        assert row[f"bf1_{name}"] == pytest.approx(np.nanmean(per_slice))
    assert study.classes == ["background", "soma", "vessel"] and study.class_of_interest == 1


def test_the_choice_is_the_fastest_setting_within_both_tolerances(study) -> None:
    chosen = study.choice
    assert chosen["chosen"] and sum(r["chosen"] for r in study.rows) == 1
    ref_iou = study.rows[0]["iou_soma"]
    ok = [r for r in study.rows if r["disagreement"] <= 0.001 and r["iou_soma"] >= ref_iou - 0.002]
    assert chosen["voxels_per_s"] == max(r["voxels_per_s"] for r in ok)
    assert all(r["within_tolerance"] == (r["disagreement"] <= 0.001) for r in study.rows)
    assert not _row(study, 32, 0, "uniform")["within_tolerance"]
    assert "IoU(soma) is at most 0.002 below" in study.rule


def test_choose_tiling_on_a_hand_made_table() -> None:
    rows = [
        {
            "setting": "ref",
            "reference": True,
            "voxels_per_s": 1.0,
            "disagreement": 0.0,
            "iou": 0.900,
        },
        {"setting": "a", "voxels_per_s": 5.0, "disagreement": 0.002, "iou": 0.900},
        {"setting": "b", "voxels_per_s": 3.0, "disagreement": 0.0005, "iou": 0.899},
        {"setting": "c", "voxels_per_s": 4.0, "disagreement": 0.001, "iou": 0.897},
        {"setting": "d", "voxels_per_s": 3.0, "disagreement": 0.0001, "iou": 0.899},
    ]
    assert choose_tiling(rows, tolerance=0.001) == 3  # c: the bound is inclusive
    assert choose_tiling(rows, tolerance=0.0005) == 4  # b and d tie at 3.0: d differs less
    assert choose_tiling(rows, tolerance=0.01) == 1
    assert choose_tiling(rows, tolerance=0.0) == 0
    # c loses 0.003 IoU against the reference, more than 0.002
    assert choose_tiling(rows, tolerance=0.001, iou="iou", iou_tolerance=0.002) == 4
    assert choose_tiling(rows, tolerance=0.001, iou="iou", iou_tolerance=0.003) == 3
    with pytest.raises(ConfigError, match="raise the tolerance"):
        choose_tiling(rows[1:], tolerance=0.00001)
    with pytest.raises(ConfigError, match="reference"):
        choose_tiling(rows[1:], iou="iou")


def test_default_candidates_and_sample() -> None:
    assert default_tiles(alignment=32, device="cpu", plane=(2300, 1920)) == [512, 1024]
    assert default_tiles(alignment=32, device="cuda", plane=(2300, 1920)) == [256, 512, 1024, 2048]
    assert default_tiles(alignment=32, device="cuda", plane=(852, 852)) == [256, 512]
    assert default_tiles(alignment=16, device="cpu", plane=(96, 90)) == [48]  # half the slice
    assert sample_slices(1800, (2300, 1920), device="cpu") == [900]
    assert sample_slices(1800, (2300, 1920), device="cuda") == [300, 900, 1500]
    assert sample_slices(10, (852, 852), device="cpu") == [2, 7]
    assert sample_slices(2, (64, 64), device="cpu") == [0, 1]


def test_files_hold_the_table_the_choice_and_the_plot(study) -> None:
    files = study.files
    data = json.loads(files["json"].read_text())
    assert data["chosen"] == study.choice and len(data["rows"]) == len(study.rows)
    assert data["weights_sha256"] == study.sha256 and data["skip"] == "empty"
    with files["csv"].open() as f:
        table = list(csv.DictReader(f))
    assert [r["setting"] for r in table] == [r["setting"] for r in study.rows]
    assert "iou_soma" in table[0] and "bf1_vessel" in table[0]
    md = files["md"].read_text()
    assert md.count("**chosen**") == 1 and "Rule: the fastest setting" in md
    assert files["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cache_round_trip(tmp_path: Path, cache_dir: Path) -> None:
    assert tile_cache_path() == cache_dir / "tiles.json"
    cpu = device_name("cpu")
    choice = TileChoice(
        sha256="ab" * 32,
        device=cpu,
        plane=plane_bucket((852, 852)),
        tile=512,
        overlap=64,
        context=0,
        window="gaussian",
        voxels_per_s=1.5e6,
        disagreement=0.0002,
        created="2026-11-27T12:00:00+00:00",
    )
    assert choice.plane == (1024, 1024)
    assert lookup_tile_choice("ab" * 32, cpu, (852, 852)) is None  # no file yet
    path = store_tile_choice(choice)
    assert path == cache_dir / "tiles.json"
    assert lookup_tile_choice("ab" * 32, cpu, (900, 1000)) == choice  # same bucket
    assert lookup_tile_choice("ab" * 32, cpu, (1100, 852)) is None  # another slice size
    assert lookup_tile_choice("cd" * 32, cpu, (852, 852)) is None  # other weights
    assert lookup_tile_choice("ab" * 32, "cuda:NVIDIA H100", (852, 852)) is None
    other = TileChoice(**{**choice.__dict__, "device": "cuda:NVIDIA H100", "tile": 1024})
    store_tile_choice(other)
    assert lookup_tile_choice("ab" * 32, cpu, (852, 852)) == choice  # both kept
    assert lookup_tile_choice("ab" * 32, "cuda:NVIDIA H100", (852, 852)) == other
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="delete it"):
        lookup_tile_choice("ab" * 32, cpu, (852, 852))


def test_a_study_caches_its_choice(inputs: tuple[Path, Path], cache_dir: Path) -> None:
    vol, ckpt = inputs
    s = study_tiles(
        ckpt,
        vol,
        tiles=[48],
        overlaps=[0],
        windows=["uniform"],
        slices=[0],
        device="cpu",
        repeats=1,
        progress=False,
    )
    assert [r["setting"] for r in s.rows] == ["single pass", "48/0/uniform"]
    assert s.cache == cache_dir / "tiles.json" and s.files == {}
    cached = lookup_tile_choice(s.sha256, device_name("cpu"), (128, 128))
    assert cached is not None and cached.study is None
    c = s.choice
    assert (cached.tile, cached.overlap, cached.window, cached.context) == (
        c["tile"],
        c["overlap"],
        c["window"],
        c["context"],
    )


def test_bad_input_is_refused_before_any_work(
    inputs: tuple[Path, Path], tmp_path: Path, cache_dir: Path
) -> None:
    vol, ckpt = inputs
    out = tmp_path / "out"
    common = {"device": "cpu", "progress": False, "out": out}
    with pytest.raises(ConfigError, match="not a multiple of the model alignment 16"):
        study_tiles(ckpt, vol, tiles=[40], **common)
    with pytest.raises(ConfigError, match=r"larger than the slices \(128 x 128\).*up to 128"):
        study_tiles(ckpt, vol, tiles=[160], **common)
    with pytest.raises(ConfigError, match="unknown window 'hann'"):
        study_tiles(ckpt, vol, windows=["gaussian", "hann"], **common)
    with pytest.raises(ConfigError, match="overlap fraction must be in"):
        study_tiles(ckpt, vol, tiles=[32], overlaps=[1.5], **common)
    with pytest.raises(ConfigError, match="tolerance"):
        study_tiles(ckpt, vol, tolerance=1.0, **common)
    with pytest.raises(InputNotFoundError, match="checkpoint not found"):
        study_tiles(tmp_path / "missing.pt", vol, **common)
    with pytest.raises(InputError, match="slice 7 is outside"):
        study_tiles(ckpt, vol, slices=[7], **common)
    other = write_labels_store(
        tmp_path / "gt.zarr", np.zeros((4, 128, 96), np.uint8), classes=["a", "b"]
    )
    with pytest.raises(InputError, match=r"\(4, 128, 96\) but the volume has \(4, 128, 128\)"):
        study_tiles(ckpt, vol, truth=other, **common)
    empty = write_labels_store(
        tmp_path / "gt2.zarr", np.zeros((4, 128, 128), np.uint8), classes=["a", "b"]
    )
    with pytest.raises(InputError, match="no 'soma' pixel"):
        study_tiles(ckpt, vol, truth=empty, **common)
    assert not out.exists() and not cache_dir.exists()
