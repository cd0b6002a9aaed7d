"""A study killed mid-way (the whole process group, cluster included) and run again trains
only the runs that had not finished; the command line's errors and exit codes."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd

from volseg.runtime import Ledger
from volseg.testing import run_volseg, wait_until


def _finished(out: Path) -> dict[str, int]:
    return {p.parent.name: p.stat().st_mtime_ns for p in out.glob("runs/*/result.json")}


def _done(out: Path) -> dict[str, int]:
    """The runs recorded *and* marked done in the ledger (a record whose marker a kill
    prevented is not done: that run trains again), with their records' mtimes."""
    try:
        done = Ledger(out).done()
    except (OSError, ValueError):  # no ledger yet
        return {}
    return {
        k: t
        for k, t in _finished(out).items()
        if int(hashlib.sha256(k.encode()).hexdigest()[:12], 16) in done
    }


def test_a_killed_study_reruns_only_its_unfinished_runs(study_yaml, tmp_path):
    path = study_yaml(sizes=[64, 96], counts=[4, 8, 12], seeds=1, epochs=2)
    out = tmp_path / "out"
    command = [sys.executable, "-c", "from volseg.cli import main; main()"]
    proc = subprocess.Popen(
        [*command, "study", "crops", str(path), "--workers", "1", "--no-progress"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: len(_done(out)) >= 1, 240, "the first finished run")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its local cluster's workers
        proc.wait(30)
    before = _done(out)
    assert 1 <= len(before) < 6, "the kill must land mid-way"
    res = run_volseg("study", "crops", str(path), "--workers", "1", "--no-progress")
    assert res.returncode == 0, res.stderr
    after = _finished(out)
    assert len(after) == 6
    assert {k: after[k] for k in before} == before  # finished runs were not trained again
    assert len(pd.read_csv(out / "results.csv")) == 6
    assert "Is 224 x 1000 best?" in res.stdout


def test_bad_study_input_is_one_error_line_with_exit_2(study_yaml):
    path = study_yaml(counts=[4, 4])
    res = run_volseg("study", "crops", str(path))
    assert res.returncode == 2
    assert res.stderr.strip() == (
        f"error: invalid crop study config {path}: counts: Value error, crop count 4 is "
        "listed twice; list each once"
    )
    res = run_volseg("study", "crops", str(study_yaml(sizes=[64, 500])))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "crop size 500 px is larger than the training images" in res.stderr
    res = run_volseg("study", "crops", "missing.yaml")
    assert res.returncode == 2 and "study config missing.yaml does not exist" in res.stderr


def test_a_failed_run_makes_the_command_exit_1_naming_it(study_yaml, tmp_path):
    path = study_yaml(sizes=[64], counts=[4, 8], seeds=1)
    blocked = tmp_path / "out" / "runs" / "s64-n4-r0" / "train"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("not a folder")
    res = run_volseg("study", "crops", str(path), "--workers", "1", "--no-progress")
    assert res.returncode == 1
    assert "run s64-n4-r0 failed: FileExistsError" in res.stderr
    assert "1 of 2 runs not finished; rerun the same command" in res.stderr
    blocked.unlink()
    res = run_volseg("study", "crops", str(path), "--workers", "1", "--no-progress")
    assert res.returncode == 0, res.stderr
