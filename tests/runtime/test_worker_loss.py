"""A worker killed mid-run (kill -9), on a cluster of separate scheduler and worker processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import zarr
from runtime_toy import SHAPE, Output, ToyBlock, executions, expected, marker_pids

from volseg.geometry import Box
from volseg.runtime import connect, run_blocks

HERE = Path(__file__).resolve().parent
DASK = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")


@dataclass
class External:
    scheduler_file: Path
    address: str
    workers: list[subprocess.Popen[bytes]]


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def external(tmp_path: Path) -> Iterator[External]:
    """A scheduler and two 1-thread workers, each its own process, on localhost only."""
    if DASK is None:
        pytest.skip("the dask command-line tool is not installed")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p),
    }
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    sched_file = tmp_path / "scheduler.json"
    logs = open(tmp_path / "cluster.log", "wb")  # noqa: SIM115 - closed in finally
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    DASK,
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--no-dashboard",
                    "--scheduler-file",
                    str(sched_file),
                ],
                env=env,
                stdout=logs,
                stderr=subprocess.STDOUT,
            )
        )
        _wait(sched_file.exists, 60, "the scheduler file")
        workers = [
            subprocess.Popen(
                [
                    DASK,
                    "worker",
                    "--scheduler-file",
                    str(sched_file),
                    "--nthreads",
                    "1",
                    "--nworkers",
                    "1",
                    "--no-nanny",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                    "--local-directory",
                    str(tmp_path / f"worker{i}"),
                ],
                env=env,
                stdout=logs,
                stderr=subprocess.STDOUT,
            )
            for i in range(2)
        ]
        procs += workers
        address = json.loads(sched_file.read_text())["address"]
        yield External(sched_file, address, workers)
    finally:
        # Workers first, then the scheduler: a worker whose scheduler vanishes while it
        # shuts down can hang in its close.
        for group in (procs[1:], procs[:1]):
            for proc in group:
                if proc.poll() is None:
                    proc.terminate()
            for proc in group:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        logs.close()


def test_existing_scheduler_via_env_and_scheduler_file(external: External, monkeypatch) -> None:
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", external.address)
    handle = connect()
    assert not handle.owned
    with handle as client:
        client.wait_for_workers(2, timeout=60)
        assert handle.address == external.address
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS")
    with connect(str(external.scheduler_file)) as client:
        assert client.scheduler.address == external.address
    # the external cluster outlives the clients
    assert all(w.poll() is None for w in external.workers)


def test_worker_killed_mid_run_the_run_still_completes(external: External, output: Output) -> None:
    grid = output.grid
    victim_block = 5
    fn = ToyBlock(output.array, output.markers, sleep=0.05, slow={victim_block: 1.0})
    killed: list[int] = []

    def kill_the_worker_running_the_slow_block() -> None:
        _wait(lambda: bool(marker_pids(output.markers, victim_block)), 60, "the slow block")
        pid = marker_pids(output.markers, victim_block)[0]
        ours = {w.pid: w for w in external.workers}
        assert pid in ours, "the block ran in a process this test did not start"
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    killer = threading.Thread(target=kill_the_worker_running_the_slow_block, daemon=True)
    with connect(external.address) as client:  # the plain "existing scheduler" path
        client.wait_for_workers(2, timeout=60)
        killer.start()
        summary = run_blocks(
            client, grid, fn, ledger=(ledger := output.ledger()), retries=0, progress=False
        )
        killer.join(timeout=30)

    assert len(killed) == 1
    assert {w.pid: w.poll() for w in external.workers}[killed[0]] == -signal.SIGKILL
    assert summary.failed == {} and summary.done == len(grid)
    assert ledger.done() == set(range(len(grid)))
    runs = executions(output.markers)
    assert runs[victim_block] == 2  # rescheduled onto the surviving worker
    assert set(runs) == set(range(len(grid)))
    data = zarr.open_array(output.array, mode="r")[...]
    np.testing.assert_array_equal(data, expected(Box.from_shape(SHAPE)))  # = a clean run
