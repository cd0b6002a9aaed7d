"""A worker killed mid-run (kill -9), on a cluster of separate scheduler and worker processes."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zarr
from runtime_toy import SHAPE, Output, ToyBlock, executions, expected, marker_pids

from volseg.geometry import Box
from volseg.runtime import BlockTask, connect, run_task
from volseg.testing import ExternalCluster, dask_cli, external_cluster, wait_until

HERE = Path(__file__).resolve().parent


@pytest.fixture
def external(tmp_path: Path) -> Iterator[ExternalCluster]:
    """A scheduler and two 1-thread workers, each its own process, on localhost only."""
    if dask_cli() is None:
        pytest.skip("the dask command-line tool is not installed")
    # the workers import runtime_toy by name
    with external_cluster(tmp_path, n_workers=2, pythonpath=[HERE]) as cluster:
        yield cluster


def test_existing_scheduler_via_env_and_scheduler_file(
    external: ExternalCluster, monkeypatch
) -> None:
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


def test_worker_killed_mid_run_the_run_still_completes(
    external: ExternalCluster, output: Output
) -> None:
    grid = output.grid
    victim_block = 5
    fn = ToyBlock(output.array, output.markers, sleep=0.05, slow={victim_block: 1.0})
    killed: list[int] = []

    def kill_the_worker_running_the_slow_block() -> None:
        wait_until(lambda: bool(marker_pids(output.markers, victim_block)), 60, "the slow block")
        pid = marker_pids(output.markers, victim_block)[0]
        ours = {w.pid: w for w in external.workers}
        assert pid in ours, "the block ran in a process this test did not start"
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    killer = threading.Thread(target=kill_the_worker_running_the_slow_block, daemon=True)
    with connect(external.address) as client:  # the plain "existing scheduler" path
        client.wait_for_workers(2, timeout=60)
        killer.start()
        ledger = output.ledger()
        task = BlockTask("toy", grid, fn, done=ledger, retries=0)
        summary = run_task(task, client, progress=False)
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
