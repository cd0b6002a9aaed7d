"""run_blocks on a real LocalCluster (2 worker processes): bytes, ledger, resume, failures."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import zarr
from runtime_toy import SHAPE, Output, ToyBlock, executions, expected

from volseg.errors import ResumeMismatchError
from volseg.geometry import Box
from volseg.runtime import Ledger, RunSummary, connect, run_blocks


def read(output: Output) -> np.ndarray:
    return zarr.open_array(output.array, mode="r")[...]


def test_run_writes_the_right_bytes_and_marks_every_block(client, output: Output) -> None:
    grid = output.grid
    ledger = output.ledger()
    summary = run_blocks(
        client, grid, ToyBlock(output.array, output.markers), ledger=ledger, progress=False
    )
    np.testing.assert_array_equal(read(output), expected(Box.from_shape(SHAPE)))
    assert ledger.done() == set(range(len(grid))) == {b.id for b in grid}
    assert (summary.done, summary.skipped, summary.failed) == (len(grid), 0, {})
    assert summary.ok
    n = int(np.prod(SHAPE))
    assert summary.stats_sum == {"voxels": n, "tiles": len(grid), "skipped": 0}
    assert summary.voxels_per_s == pytest.approx(n / summary.seconds)
    assert ledger.stats(len(grid) - 1)["voxels"] == grid.block(len(grid) - 1).box.size
    assert sorted(executions(output.markers).values()) == [1] * len(grid)


def test_resume_recomputes_only_unfinished_blocks(client, output: Output) -> None:
    grid = output.grid
    broken = {1, 4, 6}
    first = run_blocks(
        client,
        grid,
        # the broken blocks write their data, then die before returning: "chunk exists"
        # must not count as done
        ToyBlock(output.array, output.markers, fail=broken, fail_after_write=True),
        ledger=output.ledger(),
        retries=0,
        progress=False,
    )
    assert set(first.failed) == broken
    assert first.done == len(grid) - len(broken)
    runs_before = executions(output.markers)
    assert set(runs_before) == set(range(len(grid)))

    resumed_ledger = output.ledger(resume=True)
    assert resumed_ledger.done() == set(range(len(grid))) - broken
    second = run_blocks(
        client, grid, ToyBlock(output.array, output.markers), ledger=resumed_ledger, progress=False
    )
    runs_after = executions(output.markers)
    assert set((runs_after - runs_before).elements()) == broken  # only those ran again
    assert (runs_after - runs_before).total() == len(broken)
    assert (second.done, second.skipped, second.failed) == (len(broken), len(grid) - 3, {})
    assert resumed_ledger.done() == set(range(len(grid)))
    np.testing.assert_array_equal(read(output), expected(Box.from_shape(SHAPE)))

    # A third run has nothing left to do.
    third = run_blocks(
        client,
        grid,
        ToyBlock(output.array, output.markers),
        ledger=output.ledger(resume=True),
        progress=False,
    )
    assert (third.done, third.skipped) == (0, len(grid))
    assert executions(output.markers) == runs_after


def test_resume_with_a_changed_layout_is_refused(output: Output) -> None:
    output.ledger()
    changed = {**output.layout, "block": [2, 8, 12]}
    with pytest.raises(ResumeMismatchError, match=r"differs .* in block"):
        Ledger(output.path).start(changed, resume=True)


def test_a_block_that_always_fails_is_reported_after_its_retries(client, output: Output) -> None:
    grid = output.grid
    ledger = output.ledger()
    summary = run_blocks(
        client,
        grid,
        ToyBlock(output.array, output.markers, fail={3}),
        ledger=ledger,
        retries=2,
        progress=False,
    )
    assert summary.failed == {3: "ValueError: toy failure in block 3"}
    assert not summary.ok
    assert summary.done == len(grid) - 1
    assert executions(output.markers)[3] == 3  # first try + 2 retries
    assert ledger.done() == set(range(len(grid))) - {3}
    data = read(output)
    box = grid.block(3).box
    assert (data[box.slices] == -1).all()
    assert "block 3: ValueError: toy failure in block 3" in str(summary)


def test_bounded_in_flight_and_progress_output(client, output: Output, capfd) -> None:
    grid = output.grid
    summary = run_blocks(
        client,
        list(grid)[::-1],
        ToyBlock(output.array, output.markers),
        ledger=output.ledger(),
        max_in_flight=1,
        description="toy",
        progress=True,
    )
    assert summary.done == len(grid)
    err = capfd.readouterr().err
    assert f"toy: {len(grid)} blocks done, 0 skipped, 0 failed of {len(grid)}" in err
    np.testing.assert_array_equal(read(output), expected(Box.from_shape(SHAPE)))


def test_gpu_resources_limit_concurrency_per_worker(output: Output, tmp_path) -> None:
    spans = tmp_path / "spans"
    spans.mkdir()
    grid = output.grid
    # One worker with 2 threads but one GPU: GPU tasks must never overlap in time.
    with connect(
        n_workers=1, threads_per_worker=2, processes=False, resources={"GPU": 1}
    ) as gpu_client:
        summary = run_blocks(
            gpu_client,
            list(grid)[:4],
            ToyBlock(output.array, output.markers, sleep=0.2, spans=spans),
            ledger=output.ledger(),
            resources={"GPU": 1},
            progress=False,
        )
    assert summary.done == 4
    intervals = sorted(tuple(map(float, p.read_text().split())) for p in spans.iterdir())
    assert len(intervals) == 4
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(intervals))


def test_summary_str_names_counts_and_rate() -> None:
    s = RunSummary(
        done=10,
        skipped=2,
        failed={7: "OSError: x"},
        seconds=4.0,
        voxels_per_s=2.5e6,
        description="segment",
    )
    assert str(s).splitlines()[0] == (
        "segment: 10 blocks done, 2 skipped, 1 failed of 13 in 4.0 s (2.50 Mvoxel/s)"
    )
    assert s.total == 13 and not s.ok
