"""``--json``: standard output carries exactly one JSON object, the command's summary, whose
numbers and paths agree with what the command wrote. The commands run in fresh processes,
on the module's dask cluster (``--scheduler``) where they use one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.ndimage as ndi
import yaml
import zarr

from volseg.testing import run_volseg, write_blob_dataset


@pytest.fixture(scope="module")
def scheduler(client: Any) -> str:
    return str(client.scheduler.address)


def _json(*args: object) -> dict[str, Any]:
    """``volseg ARGS --json``: exit 0 and its stdout parsed as one JSON object."""
    res = run_volseg(*args, "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)  # fails on anything else on stdout
    assert isinstance(summary, dict)
    return summary


def test_segment_json_names_the_labels_and_the_resolved_config(
    tile_inputs: tuple[Path, Path], tmp_path: Path, scheduler: str
) -> None:
    vol, ckpt = tile_inputs
    out = tmp_path / "seg.zarr"
    s = _json("segment", vol, "--model", ckpt, "--out", out, "--scheduler", scheduler,
              "--device", "cpu", "--no-progress")  # fmt: skip
    assert s["ok"] is True and s["out"] == str(out)
    labels = zarr.open_array(f"{s['labels']}/0", mode="r")
    assert labels.shape == (4, 128, 128) and labels[:].max() > 0
    assert s["blocks"]["done"] == 2 and s["blocks"]["failed"] == {}  # 2 chunks deep of 4
    assert s["blocks"]["stats_sum"]["tiles"] >= 4 and s["seconds"] > 0
    assert s["config"] == zarr.open_group(out, mode="r").attrs["volseg"]["provenance"]["config"]


def test_evaluate_json_is_the_metrics_summary(tile_inputs: tuple[Path, Path], tmp_path: Path):
    vol, _ = tile_inputs
    s = _json("evaluate", vol, vol, "--pred-labels", "ground_truth", "--out", tmp_path / "ev",
              "--overlays", tmp_path / "png", "--max-overlays", "2", "--no-progress")  # fmt: skip
    written = json.loads(Path(s["report"]["json"]).read_text())["summary"]
    assert {k: v for k, v in s.items() if k not in ("report", "overlays")} == written
    assert s["accuracy"] == 1.0 and set(s["iou"].values()) == {1.0}  # the truth against itself
    assert s["slices_scored"] == 4 and s["classes"] == ["background", "soma", "vessel"]
    assert all(Path(p).is_file() for p in s["report"].values())
    assert len(s["overlays"]) == 4 and all(Path(p).is_file() for p in s["overlays"])


def test_reconstruct_json_counts_the_objects_it_wrote(
    tile_inputs: tuple[Path, Path], tmp_path: Path, scheduler: str
) -> None:
    vol, _ = tile_inputs
    out = tmp_path / "objects"
    s = _json("reconstruct", vol, "--out", out, "--labels", "ground_truth", "--scheduler",
              scheduler, "--no-progress")  # fmt: skip
    truth = zarr.open_array(vol / "labels/ground_truth/0", mode="r")[:]
    _, n = ndi.label(truth == 1, structure=np.ones((3, 3, 3)))
    assert s["objects"] == n > 0 and s["removed"] == 0
    assert len(pd.read_parquet(s["table"]["parquet"])) == n == len(pd.read_csv(s["table"]["csv"]))
    ids = zarr.open_array(f"{s['labels']}/0", mode="r")[:]
    assert ids.max() == n and str(ids.dtype) == s["dtype"]
    assert set(s["scenes"]) == {"ply", "glb"} and all(
        Path(p).is_file() for p in s["scenes"].values()
    )
    assert s["meshes"] == n and len(list(Path(s["mesh_folder"]).glob("object_*.ply"))) == n


def test_classify_train_and_apply_json(
    tile_inputs: tuple[Path, Path], tmp_path: Path, scheduler: str
) -> None:
    vol, _ = tile_inputs
    common = ["--labels", "ground_truth", "--scheduler", scheduler, "--no-progress"]
    clf = tmp_path / "clf.vsclf"
    t = _json("classify", "train", vol, "--truth", vol, "--out", clf, *common)
    training = pd.read_csv(t["table"])
    assert t["classifier"] == str(clf) and clf.is_file() and len(t["sha256"]) == 64
    assert (
        t["objects"] == len(training) and sum(t["used"].values()) == (training["label"] >= 0).sum()
    )
    s = _json("classify", vol, "--classifier", clf, "--out", tmp_path / "cls", *common)
    table = pd.read_parquet(s["table"]["parquet"])
    assert s["ok"] is True and s["objects"] == len(table) > 0
    assert s["classes"] == table["class"].value_counts().sort_index().to_dict()
    assert zarr.open_array(f"{s['classified']}/0", mode="r").shape == (4, 128, 128)


@pytest.mark.usefixtures("cache_dir")
def test_study_tiles_json_is_the_study_written(tile_inputs: tuple[Path, Path], tmp_path: Path):
    vol, ckpt = tile_inputs
    s = _json("study", "tiles", vol, "--model", ckpt, "--out", tmp_path / "study", "--tiles",
              "32,64", "--overlaps", "0", "--windows", "uniform", "--slices", "1", "--repeats",
              "1", "--device", "cpu", "--no-progress")  # fmt: skip
    written = json.loads(Path(s["files"]["json"]).read_text())
    assert s["rows"] == written["rows"] and s["chosen"] == written["chosen"]
    assert len(s["rows"]) == 1 + 2 and s["slices"] == [1]
    assert sum(r["chosen"] for r in s["rows"]) == 1 and s["chosen"]["chosen"] is True
    assert all(Path(p).is_file() for p in s["files"].values())


@pytest.fixture(scope="module")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("blobs")
    for part, n, seed in (("train", 4, 0), ("val", 2, 1), ("test", 2, 2)):
        write_blob_dataset(root / part, n, (96, 96), seed=seed)
    return root


def _study_yaml(blobs: Path, path: Path, **values: Any) -> Path:
    data = {"train": blobs / "train", "validation": blobs / "val", "test": blobs / "test"}
    values = {**{k: str(v) for k, v in data.items()}, "retries": 0, **values}
    path.write_text(yaml.safe_dump(values))
    return path


def _check_study(s: dict[str, Any], study: str, runs: int) -> None:
    assert s["study"] == study and s["ok"] is True and s["failed"] == {}
    assert s["runs"] == s["finished"] == s["executed"]["done"] == runs == len(s["results"])
    rows = pd.read_csv(s["files"]["results_csv"])
    assert sorted(rows["run"]) == sorted(r["run"] for r in s["results"])
    for r in s["results"]:
        assert 0 <= r["test_accuracy"] <= 1
        assert rows.set_index("run").loc[r["run"], "test_accuracy"] == pytest.approx(
            r["test_accuracy"]
        )
    assert s["answer"] and s["answer"] in Path(s["files"]["report"]).read_text()
    assert all(Path(p).is_file() for p in s["files"].values())


def test_study_crops_json(blobs: Path, tmp_path: Path, scheduler: str) -> None:
    recipe = {"model": "segnet-lite", "batch_size": 4, "classes": ["bg", "blob"]}
    config = _study_yaml(blobs, tmp_path / "crops.yaml", out=str(tmp_path / "crops"),
                         sizes=[64], counts=[4], seeds=1, epochs=1, recipe=recipe)  # fmt: skip
    s = _json("study", "crops", config, "--scheduler", scheduler, "--no-progress")
    _check_study(s, "crops", runs=1)


def test_a_study_with_a_failed_run_prints_its_json_and_exits_1(
    blobs: Path, tmp_path: Path, scheduler: str
) -> None:
    recipe = {"model": "segnet-lite", "batch_size": 4, "classes": ["bg", "blob"]}
    out = tmp_path / "crops"
    config = _study_yaml(blobs, tmp_path / "crops.yaml", out=str(out), sizes=[64],
                         counts=[4, 8], seeds=1, epochs=1, recipe=recipe)  # fmt: skip
    blocked = out / "runs" / "s64-n4-r0" / "train"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("not a folder")  # that run cannot write its outputs
    res = run_volseg("study", "crops", config, "--scheduler", scheduler, "--no-progress", "--json")
    assert res.returncode == 1
    s = json.loads(res.stdout)
    assert s["ok"] is False and s["runs"] == 2 and s["finished"] == 1
    assert list(s["failed"]) == ["s64-n4-r0"] and "FileExistsError" in s["failed"]["s64-n4-r0"]
    assert [r["run"] for r in s["results"]] == ["s64-n8-r0"]
    assert "run s64-n4-r0 failed: FileExistsError" in res.stderr


def test_study_inputs_json(blobs: Path, tmp_path: Path, scheduler: str) -> None:
    recipe = {"model": "segnet-lite", "batch_size": 4, "crop_size": 64, "crops": 4, "epochs": 1,
              "classes": ["bg", "blob"]}  # fmt: skip
    segmented = {"variant": "segmented", "dilate": 4}
    config = _study_yaml(blobs, tmp_path / "inputs.yaml", out=str(tmp_path / "inputs"), seeds=2,
                         segmented=segmented, recipe=recipe)  # fmt: skip
    s = _json("study", "inputs", config, "--scheduler", scheduler, "--no-progress")
    _check_study(s, "inputs", runs=6)  # whole, segmented, fine-tuned x 2 seeds


def test_an_error_with_json_is_one_line_on_stderr_and_nothing_on_stdout(tmp_path: Path):
    res = run_volseg("segment", tmp_path / "missing.zarr", "--model", tmp_path / "m.pt",
                     "--out", tmp_path / "o.zarr", "--json")  # fmt: skip
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.startswith("error: ") and len(res.stderr.strip().splitlines()) == 1
    assert "missing.zarr" in res.stderr
