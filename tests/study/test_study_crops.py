"""``run_crop_study`` end to end on a real LocalCluster with real training, the shipped
segment + evaluate path, resume, a larger grid, a changed recipe and a failing run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

from volseg.errors import ResumeMismatchError
from volseg.evaluate import evaluate_volumes, open_label_volume
from volseg.segment import make_segment_config, segment
from volseg.study import load_study_config, run_crop_study


def _mtimes(out: Path) -> dict[str, float]:
    return {p.parent.name: p.stat().st_mtime_ns for p in out.glob("runs/*/result.json")}


def test_a_study_trains_scores_and_reports_every_run(study_yaml, client):
    cfg = load_study_config(study_yaml())
    result = run_crop_study(cfg, progress=False, client=client)
    out = Path(cfg.out)
    assert result.ok and result.summary is not None and result.summary.done == 8
    rows = pd.read_csv(out / "results.csv")
    assert len(rows) == 8 == len(pd.read_parquet(out / "results.parquet"))
    assert sorted(rows["run"]) == sorted(r.key for r in result.runs)
    assert set(rows["case"]) == {"64 x 4", "64 x 8", "96 x 4", "96 x 8"}
    assert (rows["steps"] == [1, 1, 2, 2, 1, 1, 2, 2]).all()  # one epoch of 4 or 8 crops
    assert rows["test_accuracy"].between(0, 1).all() and (rows["seconds_per_image"] > 0).all()
    cases = pd.read_csv(out / "cases.csv")
    assert len(cases) == 4 and (cases["n"] == 2).all()
    for name in ("heatmaps.png", "curves.png", "overlay_best.png", "overlay_worst.png"):
        assert (out / name).stat().st_size > 10_000, name
    report = (out / "report.md").read_text()
    assert "**epochs** = equal epochs (the original protocol" in report
    assert result.answer.startswith("Is 224 x 1000 best? not tested") and result.answer in report
    assert '<img src="heatmaps.png"' in (out / "report.html").read_text()

    # the recorded scores are those of `volseg segment` + `volseg evaluate` of its checkpoint
    rec = json.loads((out / "runs" / "s96-n8-r1" / "result.json").read_text())
    test_store = out / "test.ome.zarr"
    seg = segment(
        make_segment_config(
            {
                "volume": str(test_store),
                "model": str(out / "runs/s96-n8-r1/train/best.pt"),
                "out": str(out / "again.zarr"),
            }
        ),
        progress=False,
        client=client,
    )
    assert seg.ok
    again = zarr.open_array(out / "again.zarr" / "labels/segmentation/0")[:]
    mine = zarr.open_array(out / "runs/s96-n8-r1/test.zarr/labels/segmentation/0")[:]
    assert np.array_equal(again, mine)
    ev = evaluate_volumes(
        open_label_volume(out / "again.zarr", role="pred"),
        open_label_volume(test_store, role="gt"),
        slices=[0, 1, 2],
        classes=["bg", "dendrite"],
        progress=False,
    )
    assert rec["test_iou_dendrite"] == pytest.approx(ev.iou[1])
    assert rec["test_accuracy"] == pytest.approx(ev.accuracy)
    assert [im["z"] for im in rec["per_image"]] == [0, 1, 2]


def test_a_rerun_trains_nothing_and_a_larger_grid_only_the_new_runs(study_yaml, client):
    path = study_yaml(sizes=[64], counts=[4])
    cfg = load_study_config(path)
    first = run_crop_study(cfg, progress=False, client=client)
    assert first.ok and len(first.records) == 2
    before = _mtimes(Path(cfg.out))
    again = run_crop_study(cfg, progress=False, client=client)
    assert again.ok and again.summary is None and _mtimes(Path(cfg.out)) == before
    bigger = load_study_config(study_yaml(sizes=[64], counts=[4, 8], seeds=3))
    grown = run_crop_study(bigger, progress=False, client=client)
    assert grown.ok and grown.summary is not None
    assert (grown.summary.done, grown.summary.skipped) == (4, 2)
    after = _mtimes(Path(cfg.out))
    assert {k: after[k] for k in before} == before and len(after) == 6


def test_a_changed_recipe_is_refused_naming_what_changed(study_yaml, client):
    cfg = load_study_config(study_yaml(sizes=[64], counts=[4], seeds=1))
    assert run_crop_study(cfg, progress=False, client=client).ok
    changed = load_study_config(
        study_yaml(
            sizes=[64],
            counts=[4],
            seeds=1,
            recipe={
                "model": "segnet-lite",
                "batch_size": 4,
                "classes": ["bg", "dendrite"],
                "lr": 0.01,
            },
        )
    )
    with pytest.raises(ResumeMismatchError, match=r"recipe\.lr"):
        run_crop_study(changed, progress=False, client=client)
    redone = run_crop_study(changed, progress=False, client=client, overwrite=True)
    assert redone.ok and redone.summary is not None and redone.summary.done == 1


def test_a_failing_run_is_retried_then_reported_while_the_others_finish(study_yaml, client):
    cfg = load_study_config(study_yaml(sizes=[64], counts=[4, 8], seeds=1, retries=1))
    blocked = Path(cfg.out) / "runs" / "s64-n8-r0" / "train"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the run's folder must go")
    result = run_crop_study(cfg, progress=False, client=client)
    assert not result.ok
    assert list(result.failed) == ["s64-n8-r0"] and "FileExistsError" in result.failed["s64-n8-r0"]
    assert [r["run"] for r in result.records] == ["s64-n4-r0"]
    assert (Path(cfg.out) / "report.md").is_file()


def test_runs_on_store_data_never_run_beside_each_other_in_one_worker(
    study_yaml, study_data, tmp_path, client
):
    # a store's class frequencies are a dask computation inside the run: on the cluster it
    # would secede the task and the worker would start further runs beside it
    from volseg.io import ingest

    store = tmp_path / "train.zarr"
    ingest(study_data / "train", store, classes=["bg", "dendrite"], progress=False)
    cfg = load_study_config(
        study_yaml(
            train={"source": str(store), "slices": [0, 1, 2, 3, 4, 5]},
            sizes=[64],
            counts=[4, 8, 12],
            seeds=2,
        )
    )
    result = run_crop_study(cfg, progress=False, client=client)
    assert result.ok and len(result.records) == 6
    spans = [
        ((d / "train" / "config.yaml").stat().st_mtime, (d / "result.json").stat().st_mtime)
        for d in (Path(cfg.out) / "runs").iterdir()
    ]
    most = max(sum(a <= t < b for a, b in spans) for t, _ in spans)
    assert most <= sum(client.nthreads().values())  # one run per worker thread at a time


def test_the_study_lock_is_held_from_the_test_store_to_the_report(study_yaml, client, monkeypatch):
    from volseg.errors import RunLockedError
    from volseg.runtime import RunLock
    from volseg.study import _crops

    cfg = load_study_config(study_yaml(sizes=[64], counts=[4], seeds=1))
    out = Path(cfg.out)
    prepare = _crops.prepare_study
    seen: list[str] = []

    def prepare_and_try_a_second_study(config, *, progress):
        # the first file of a study (its test store) is written holding the lock ...
        with pytest.raises(RunLockedError, match="being written by another volseg run"):
            run_crop_study(cfg, progress=False, client=client)
        seen.append("prepare")
        return prepare(config, progress=progress)

    monkeypatch.setattr(_crops, "prepare_study", prepare_and_try_a_second_study)
    result = run_crop_study(cfg, progress=False, client=client)
    assert seen == ["prepare"] and result.ok and len(result.records) == 1
    assert RunLock(out).holder() is None  # ... and released after the report
    assert (out / "report.md").is_file()
