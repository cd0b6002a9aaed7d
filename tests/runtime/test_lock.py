"""RunLock: one run per output; a stale lock (dead process on this host) is taken over."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from volseg.errors import RunLockedError
from volseg.runtime import RUN_DIR, RunLock

HOLD = """
import sys, time
from volseg.runtime import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_a_second_concurrent_run_is_refused_naming_the_holder(tmp_path: Path) -> None:
    with RunLock(tmp_path) as lock:
        assert lock.held
        with pytest.raises(RunLockedError) as err:
            RunLock(tmp_path).acquire()
        message = str(err.value)
        assert f"pid {os.getpid()}" in message and "started" in message
        assert "delete" in message and str(tmp_path / RUN_DIR / "lock.json") in message
    assert not (tmp_path / RUN_DIR / "lock.json").exists()
    with RunLock(tmp_path):  # free again
        pass


def test_lock_of_a_live_other_process_blocks_until_it_dies_then_is_taken_over(
    tmp_path: Path,
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"pid {proc.pid}"):
            RunLock(tmp_path).acquire()
        os.kill(proc.pid, signal.SIGKILL)  # dies without releasing: a stale lock
        proc.wait(timeout=10)
        lock = RunLock(tmp_path)
        with lock:
            holder = json.loads((tmp_path / RUN_DIR / "lock.json").read_text())
            assert holder["pid"] == os.getpid()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_reused_pid_does_not_keep_a_lock_alive(tmp_path: Path) -> None:
    with RunLock(tmp_path):
        pass
    lock_file = tmp_path / RUN_DIR / "lock.json"
    # a record naming this (live) pid but an earlier process start: the pid was reused
    record = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "process_start": time.time() - 10_000,
        "started": "then",
        "token": "old",
    }
    lock_file.write_text(json.dumps(record))
    with RunLock(tmp_path) as lock:
        assert lock.held
    assert not lock_file.exists()


def test_a_lock_from_another_host_is_never_taken_over(tmp_path: Path) -> None:
    (tmp_path / RUN_DIR).mkdir()
    record = {"host": "elsewhere.example", "pid": 1, "started": "2026-01-01T00:00:00+00:00"}
    (tmp_path / RUN_DIR / "lock.json").write_text(json.dumps(record))
    with pytest.raises(RunLockedError, match=r"host elsewhere\.example, pid 1"):
        RunLock(tmp_path).acquire()


def test_ensure_free_refuses_a_held_lock_and_leaves_a_free_one_free(tmp_path: Path) -> None:
    store = tmp_path / "out.zarr"
    store.mkdir()
    RunLock(store).ensure_free()  # free: checked, and not kept
    assert RunLock(store).holder() is None
    with RunLock(store), pytest.raises(RunLockedError, match="another volseg run"):
        RunLock(store).ensure_free()
