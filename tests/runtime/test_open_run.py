"""open_run: the run lock is held from the output's creation to the end of the run, so no
second run slips in between, and --overwrite never deletes an output being written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from volseg.errors import RunLockedError, StoreExistsError
from volseg.runtime import RUN_DIR, Ledger, RunLock, open_run

HOLD = """
import sys, time
from volseg.runtime import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(120)
"""


def make_store(path: Path, text: str) -> Path:
    """A minimal volseg store at ``path`` (made the way a run makes its output: the
    run-state folder is kept) holding ``data.txt``."""
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.name != RUN_DIR:
            entry.unlink()
    meta = {"zarr_format": 3, "node_type": "group", "attributes": {"volseg": {}}}
    (path / "zarr.json").write_text(json.dumps(meta))
    (path / "data.txt").write_text(text)
    return path


def attempt(out: Path, **options: Any) -> None:
    """Start a run on ``out`` and end it at once."""
    with open_run(out, **options):
        pass


@pytest.fixture
def other_process(tmp_path: Path) -> Iterator[Path]:
    """An output store whose lock a live other process holds."""
    out = make_store(tmp_path / "out.zarr", "theirs")
    command = [sys.executable, "-c", HOLD, str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield out
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_the_lock_is_held_while_the_output_is_created_and_until_the_run_ends(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.zarr"
    refused: list[str] = []

    def create() -> Path:
        # a second run starting while the first creates its output: refused, never let in
        with pytest.raises(RunLockedError, match="being written by another volseg run") as err:
            attempt(out, create=lambda: make_store(out, "second"), overwrite=True)
        refused.append(str(err.value))
        return make_store(out, "first")

    with open_run(out, create=create) as store:
        assert refused and store == out
        # ... and while it runs, with or without --overwrite
        for overwrite in (True, False):
            with pytest.raises(RunLockedError):
                attempt(out, create=lambda: make_store(out, "second"), overwrite=overwrite)
        assert (out / "data.txt").read_text() == "first"
        assert RunLock(out).holder() is not None
    assert RunLock(out).holder() is None  # released at the end
    with open_run(out, create=lambda: make_store(out, "next"), overwrite=True):
        assert (out / "data.txt").read_text() == "next"


def test_overwrite_while_another_live_run_holds_the_lock_deletes_nothing(
    other_process: Path,
) -> None:
    out = other_process
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    created: list[Path] = []
    with pytest.raises(RunLockedError, match=r"pid \d+"):
        attempt(out, create=lambda: created.append(out), overwrite=True)
    assert not created
    assert (out / "data.txt").read_text() == "theirs"
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def test_an_existing_output_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    out = make_store(tmp_path / "out.zarr", "old")
    with pytest.raises(StoreExistsError, match="--overwrite"):
        attempt(out, create=lambda: make_store(out, "new"))
    assert not (out / RUN_DIR).exists()  # not even a lock was taken
    foreign = tmp_path / "precious"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(StoreExistsError, match="not a volseg store"):
        attempt(foreign, create=lambda: make_store(foreign, "new"), overwrite=True)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_a_new_run_resets_the_ledger_and_a_resumed_one_keeps_it(tmp_path: Path) -> None:
    out = tmp_path / "out.zarr"
    with open_run(out, create=lambda: make_store(out, "first")):
        ledger = Ledger(out)
        ledger.start({"shape": [4]}, resume=False)
        ledger.mark_done(0)
    with open_run(out, reopen=lambda: out, resume=True):
        assert Ledger(out).start({"shape": [4]}, resume=True) == {0}
    with open_run(out, create=lambda: make_store(out, "second"), overwrite=True):
        assert not Ledger(out).exists  # reset under the lock, before the store was made
        assert (out / "data.txt").read_text() == "second"


def test_a_folder_holding_only_run_state_is_free(tmp_path: Path) -> None:
    out = tmp_path / "out.zarr"
    (out / RUN_DIR).mkdir(parents=True)  # left by a run that failed before its store
    with open_run(out, create=lambda: make_store(out, "new")):
        assert (out / "data.txt").read_text() == "new"


def test_a_failed_creation_leaves_no_folder_behind(tmp_path: Path) -> None:
    out = tmp_path / "out.zarr"

    def fail() -> Path:
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        attempt(out, create=fail)
    assert not out.exists()
    with pytest.raises(ValueError, match="bad input"):
        attempt(out, reopen=fail, resume=True)
    assert not out.exists()


def test_a_creation_that_deletes_the_lock_is_caught(tmp_path: Path) -> None:
    out = tmp_path / "out.zarr"

    def careless() -> Path:
        shutil.rmtree(out)  # the whole folder, the run's lock with it
        return make_store(out, "new")

    with pytest.raises(RunLockedError, match="no longer this run's"):
        attempt(out, create=careless)
