"""``volseg study crops`` when things go wrong: the whole study killed mid-run, a full disk
while a run writes its result. A study is resumed by running it again: finished runs are
kept (never trained again), the others run, and the results table is the one an
uninterrupted study gives (timings aside).

A tiny study: 2 runs (32 px crops, 2 and 4 of them, one epoch, one torch thread) on blob
images; each run trains, segments the test images (its ``test.zarr``) and records
``result.json``. ``volseg study tiles`` writes no store and runs no blocks: its files are
written whole (atomically) at its end, and a rerun measures again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from volseg.io import VolumeStore
from volseg.runtime import Ledger
from volseg.study import StudyResult, make_study_config, run_crop_study
from volseg.testing import Fault, Faults, inject_faults, run_volseg, write_blob_dataset

RUNS = ["s32-n2-r0", "s32-n4-r0"]
#: Columns that time a run: they differ between any two studies.
TIMES = ["train_seconds", "seconds_per_image"]
#: A run's first write of its result: the labels array of its test segmentation.
RESULT = "runs/*/test.zarr/labels/segmentation/0/zarr.json"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("study_data")
    for part, n, seed in (("train", 2, 0), ("val", 1, 1), ("test", 2, 2)):
        write_blob_dataset(root / part, n, (64, 64), seed=seed)
    return root


def _values(data: Path, out: Path) -> dict[str, Any]:
    """The study: one worker of one thread runs the runs one after the other."""
    return {
        "train": str(data / "train"),
        "validation": str(data / "val"),
        "test": str(data / "test"),
        "out": str(out),
        "sizes": [32],
        "counts": [2, 4],
        "seeds": 1,
        "epochs": 1,
        "retries": 0,
        "workers": 1,
        "threads_per_worker": 1,
        "recipe": {"batch_size": 2, "classes": ["bg", "blob"], "device": "cpu", "threads": 1},
    }


def _study(data: Path, out: Path, client: object) -> StudyResult:
    return run_crop_study(make_study_config(_values(data, out)), client=client, progress=False)


def _table(out: Path) -> pd.DataFrame:
    table = pd.read_parquet(out / "results.parquet")
    return table.drop(columns=TIMES).sort_values("run").reset_index(drop=True)


def _done(out: Path) -> set[str]:
    """The runs marked done in the study's ledger."""
    ids = {int(hashlib.sha256(k.encode()).hexdigest()[:12], 16): k for k in RUNS}
    return {ids[i] for i in Ledger(out).done()}


def _mtimes(out: Path) -> dict[str, int]:
    return {p.parent.name: p.stat().st_mtime_ns for p in out.glob("runs/*/result.json")}


@pytest.fixture(scope="module")
def reference(data: Path, client, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """An uninterrupted study: the table every interrupted one must end with."""
    out = tmp_path_factory.mktemp("reference") / "study"
    result = _study(data, out, client)
    assert result.ok and [r["run"] for r in result.records] == RUNS
    table = _table(out)
    # not vacuous: two different networks
    assert list(table["run"]) == RUNS and table["weights_sha256"].nunique() == 2
    return table


@pytest.fixture(scope="module")
def faults(client, tmp_path_factory: pytest.TempPathFactory):
    with inject_faults(tmp_path_factory.mktemp("faults"), client=client) as planned:
        yield planned


@dataclass(frozen=True)
class Crash:
    out: Path
    returncode: int
    done: set[str]  # the runs marked done when it died
    recorded: dict[str, int]  # the runs with a result.json then (mtimes)
    resumed: StudyResult
    kept: dict[str, int]  # those results' mtimes after the resumed study


@pytest.fixture(scope="module")
def crash(data: Path, client, tmp_path_factory: pytest.TempPathFactory) -> Crash:
    """``volseg study crops`` as a user runs it (its own process and local cluster), the
    whole process group SIGKILLed 0.5 s after the second run began writing its result;
    then the same study again, in this process."""
    root = tmp_path_factory.mktemp("crash")
    out = root / "study"
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(_values(data, out)))
    faults = Faults(root / "faults")
    faults.plan(out, Fault("crash-after", RESULT, nth=2, seconds=0.5))
    res = run_volseg("study", "crops", path, "--no-progress", env=faults.env,
                     start_new_session=True)  # fmt: skip
    assert res.returncode == -9, res.stderr
    done, recorded = _done(out), _mtimes(out)
    assert not (out / "results.parquet").exists() and not (out / "report.md").exists()
    resumed = _study(data, out, client)
    return Crash(out, res.returncode, done, recorded, resumed, _mtimes(out))


def test_a_killed_study_resumed_gives_the_uninterrupted_table(
    crash: Crash, reference: pd.DataFrame
) -> None:
    # the first run finished (recorded and marked) and the second died scoring
    assert len(crash.done) == 1 and set(crash.recorded) == crash.done
    summary = crash.resumed.summary
    assert crash.resumed.ok and summary is not None
    assert (summary.done, summary.skipped) == (1, 1)  # only the unfinished run again
    assert {k: crash.kept[k] for k in crash.done} == crash.recorded  # not trained again
    pd.testing.assert_frame_equal(_table(crash.out), reference, check_exact=True)


def test_a_full_disk_fails_one_run_in_one_line_and_a_rerun_completes(
    data: Path, reference: pd.DataFrame, client, faults: Faults, tmp_path: Path
) -> None:
    out = tmp_path / "study"
    full = RESULT.replace("*", RUNS[1])
    faults.plan(out, Fault("enospc", full, nth=None))
    result = _study(data, out, client)
    assert not result.ok and list(result.failed) == [RUNS[1]]
    error = result.failed[RUNS[1]]  # printed as "run s32-n4-r0 failed: <error>"
    assert error.startswith("OSError: [Errno 28] No space left on device")
    assert str(out.resolve() / full) in error and "\n" not in error
    assert _done(out) == {RUNS[0]} and set(_mtimes(out)) == {RUNS[0]}
    assert not VolumeStore.open(out / "runs" / RUNS[1] / "test.zarr").complete
    assert list(_table(out)["run"]) == [RUNS[0]]  # the report holds the finished run

    faults.clear()
    again = _study(data, out, client)
    assert again.ok and again.summary is not None
    assert (again.summary.done, again.summary.skipped) == (1, 1)
    pd.testing.assert_frame_equal(_table(out), reference, check_exact=True)
