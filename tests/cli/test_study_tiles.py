"""``volseg study tiles`` and ``volseg segment --tile auto`` from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

from volseg.cli import main
from volseg.testing import run_volseg, write_labels_store

pytestmark = pytest.mark.usefixtures("cache_dir")  # a fresh tile cache per test


@pytest.fixture(scope="module")
def inputs(tile_inputs: tuple[Path, Path]) -> tuple[Path, Path]:
    return tile_inputs


def _volseg(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: object
) -> tuple[int, str]:
    """``volseg ARGS`` in this process (for errors raised before any work): exit code, stderr."""
    monkeypatch.setattr(sys, "argv", ["volseg", *map(str, args)])
    with pytest.raises(SystemExit) as exit_:
        main()
    return int(exit_.value.code or 0), capsys.readouterr().err


def test_study_tiles_then_segment_with_the_cached_tiling(
    inputs: tuple[Path, Path], tmp_path: Path, cache_dir: Path
) -> None:
    vol, ckpt = inputs
    res = run_volseg(
        "study", "tiles", vol, "--model", ckpt, "--out", tmp_path / "study",
        "--truth", vol, "--tiles", "32,64", "--overlaps", "0,16", "--windows", "uniform,gaussian",
        "--slices", "1", "--repeats", "1", "--device", "cpu", "--no-progress",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "| single pass | 128 | 0 | uniform |" in res.stdout
    assert res.stdout.count("**chosen**") == 1 and "| IoU soma | BF1 soma |" in res.stdout
    assert f"Cached in {cache_dir / 'tiles.json'}" in res.stdout
    study = json.loads((tmp_path / "study" / "tiles.json").read_text())
    assert len(study["rows"]) == 1 + 2 * 2 * 2 and study["slices"] == [1]
    chosen = study["chosen"]
    assert chosen["disagreement"] <= 0.001
    assert all(
        r["voxels_per_s"] <= chosen["voxels_per_s"]
        for r in study["rows"]
        if r["disagreement"] <= 0.001 and r["iou_soma"] >= study["rows"][0]["iou_soma"] - 0.002
    )

    out = tmp_path / "seg.zarr"
    res = run_volseg(
        "segment", vol, "--model", ckpt, "--out", out, "--tile", "auto",
        "--workers", "1", "--device", "cpu", "--no-progress",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    config = zarr.open_group(out, mode="r").attrs["volseg"]["provenance"]["config"]
    assert config["tile"] == chosen["tile"] and config["overlap"] == chosen["overlap"]
    assert config["window"] == chosen["window"] and config["context"] == chosen["context"]
    assert config["tile_source"] == (
        f"auto (study tiles {study['created']}, {cache_dir / 'tiles.json'})"
    )


def test_segment_tile_auto_without_a_study_says_what_to_run(
    inputs: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    vol, ckpt = inputs
    out = tmp_path / "seg.zarr"
    code, err = _volseg(
        monkeypatch, capsys, "segment", vol, "--model", ckpt, "--out", out, "--tile", "auto",
        "--device", "cpu", "--no-progress",
    )  # fmt: skip
    assert code == 2 and err.startswith("error: --tile auto: no tile study of")
    assert f"run `volseg study tiles --model {ckpt} {vol} --out DIR` first" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
    code, err = _volseg(
        monkeypatch, capsys, "segment", vol, "--model", ckpt, "--out", out, "--tile", "auto",
        "--overlap", "0.5", "--device", "cpu",
    )  # fmt: skip
    assert code == 2 and "drop --overlap, or give --tile N" in err
    code, err = _volseg(
        monkeypatch, capsys, "segment", vol, "--model", ckpt, "--out", out, "--tile", "big"
    )
    assert code == 2 and "--tile takes a tile edge in px" in err and "'big'" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tiles", "32,x"], "--tiles takes comma-separated ints"),
        (["--tiles", "40"], "tile size 40 is not a multiple of the model alignment 16"),
        (["--tiles", "256"], "tile 256 is larger than the slices (128 x 128)"),
        (["--windows", "gaussian,hann"], "unknown window 'hann'"),
        (["--overlaps", "0,1.5"], "--overlaps: 1.5 is neither a fraction of the tile"),
        (["--tiles", "32", "--overlaps", "32"], "overlap in pixels must be an integer in [0, 32)"),
        (["--slices", "9"], "--slices names slice 9, outside the volume's 0..3"),
        (["--truth", "OTHER"], "has shape (4, 128, 96) but the volume has (4, 128, 128)"),
        (["--model", "MISSING"], "checkpoint not found"),
    ],
)
def test_bad_input_is_one_line_before_any_work(
    inputs: tuple[Path, Path],
    tmp_path: Path,
    cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    vol, ckpt = inputs
    other = write_labels_store(
        tmp_path / "gt.zarr", np.zeros((4, 128, 96), np.uint8), classes=["a", "b"]
    )
    subs = {"OTHER": other, "MISSING": tmp_path / "missing.pt"}
    args = [str(subs.get(a, a)) for a in args]
    model = [] if "--model" in args else ["--model", ckpt]
    out = tmp_path / "study"
    code, err = _volseg(
        monkeypatch, capsys, "study", "tiles", vol, *model, "--out", out, "--device", "cpu",
        "--no-progress", *args,
    )  # fmt: skip
    assert code == 2 and err.startswith("error: ") and message in err, err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists() and not cache_dir.exists()
