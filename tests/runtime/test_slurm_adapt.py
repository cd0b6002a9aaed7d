"""Adaptive SLURM clusters (``adapt: {minimum_jobs, maximum_jobs}`` in the config), on a
real SLURM cluster: the minimum of jobs at the start, more jobs while blocks are pending
(never more than the maximum), back to the minimum once the blocks are done, none after;
seen in ``squeue`` and in SLURM's job completion log (the local cluster's stand-in for
``sacct``)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from slurm_local import (
    GONE_S,
    SHAPE,
    QueueWatch,
    assert_same_segmentation,
    ended_jobs,
    jobs,
    wait_for_jobs,
    write_config,
)

from volseg.runtime import connect
from volseg.segment import make_segment_config, segment
from volseg.testing import Fault, inject_faults

pytestmark = pytest.mark.usefixtures("slurm")

NAME = "vs-adapt"


def ended(ids: set[str], n: int) -> dict[str, str] | None:
    """The job completion log's records of ``ids`` once it lists ``n`` of them (None: the
    cluster keeps no such log)."""
    deadline = time.monotonic() + 30
    while (records := ended_jobs(ids)) is not None and len(records) < n:
        assert time.monotonic() < deadline, f"{n} ended jobs not logged in 30 s: {records}"
        time.sleep(0.3)
    return records


def test_jobs_scale_up_while_blocks_are_pending_and_back_down_when_done(
    slurm_inputs: tuple[Path, Path], slurm_reference: Path, tmp_path: Path
) -> None:
    volume, model = slurm_inputs
    out = tmp_path / "seg.zarr"
    adapt = {"minimum_jobs": 1, "maximum_jobs": 2, "interval": "500ms", "wait_count": 2}
    config = write_config(tmp_path / "slurm.yaml", NAME, jobs=None, adapt=adapt)
    values = {"volume": str(volume), "model": str(model), "out": str(out), "tile": 32,
              "overlap": 16, "device": "cpu", "probabilities": "uint8", "retries": 0}  # fmt: skip
    with connect(str(config)) as client:
        # the minimum: one job, and its worker
        at_start = wait_for_jobs(NAME, lambda j: len(j) == 1, 30, "the minimum job")
        client.wait_for_workers(1, timeout=60)
        assert len(jobs(NAME)) == 1
        with (
            QueueWatch(NAME) as during,
            inject_faults(tmp_path / "faults", client=client) as faults,
        ):
            # 8 blocks of ~1 s each: more work pending than one worker does in dask's
            # adaptive target duration (5 s), so a second job is asked for
            faults.plan(out, Fault("delay", "labels/segmentation/0/c/*", nth=None, seconds=1.0))
            result = segment(make_segment_config(values), client=client, progress=False)
        assert result.ok and result.summary.done == SHAPE[0]
        # one job running as the blocks were submitted, then two, never more
        assert during.samples[0] == 1 and during.most_running == 2
        # idle: released down to the minimum while the cluster is still open
        after = wait_for_jobs(NAME, lambda j: len(j) == 1, 60, "the release to one job")
        every = during.seen | set(at_start)
        assert len(every) == 2 and set(after) < every
        released = ended(every, 1)  # the accounting record: one job over, the run's on
    wait_for_jobs(NAME, lambda now: not now, GONE_S, "no job left")  # closed: all cancelled
    if released is not None:
        assert set(released) == every - set(after)
        assert ended(every, 2) == dict.fromkeys(every, "CANCELLED")
    assert_same_segmentation(out, slurm_reference)
