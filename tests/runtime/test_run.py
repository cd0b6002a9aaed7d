"""run_task on a real LocalCluster (2 worker processes) and inline: bytes, ledger, resume,
failure policies, retries, collected results."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
import zarr
from runtime_toy import (
    CHUNKS,
    FILL,
    SHAPE,
    Output,
    Scaled,
    ToyBlock,
    executions,
    expected,
    make_array,
)

from volseg.errors import ResumeMismatchError
from volseg.geometry import Box
from volseg.runtime import BlockTask, Ledger, RunSummary, connect, run_task


def read(output: Output) -> np.ndarray:
    return zarr.open_array(output.array, mode="r")[...]


def test_run_writes_the_right_bytes_and_marks_every_block(client, output: Output) -> None:
    grid = output.grid
    ledger = output.ledger()
    task = BlockTask("toy", grid, ToyBlock(output.array, output.markers), done=ledger)
    summary = run_task(task, client, progress=False)
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
    first = run_task(
        BlockTask(
            "toy",
            grid,
            # the broken blocks write their data, then die before returning: "chunk exists"
            # must not count as done
            ToyBlock(output.array, output.markers, fail=broken, fail_after_write=True),
            done=output.ledger(),
            retries=0,
        ),
        client,
        progress=False,
    )
    assert set(first.failed) == broken
    assert first.done == len(grid) - len(broken)
    runs_before = executions(output.markers)
    assert set(runs_before) == set(range(len(grid)))

    resumed_ledger = output.ledger(resume=True)
    assert resumed_ledger.done() == set(range(len(grid))) - broken
    task = BlockTask("toy", grid, ToyBlock(output.array, output.markers), done=resumed_ledger)
    second = run_task(task, client, progress=False)
    runs_after = executions(output.markers)
    assert set((runs_after - runs_before).elements()) == broken  # only those ran again
    assert (runs_after - runs_before).total() == len(broken)
    assert (second.done, second.skipped, second.failed) == (len(broken), len(grid) - 3, {})
    assert resumed_ledger.done() == set(range(len(grid)))
    np.testing.assert_array_equal(read(output), expected(Box.from_shape(SHAPE)))

    # A third run has nothing left to do.
    again = ToyBlock(output.array, output.markers)
    task = BlockTask("toy", grid, again, done=output.ledger(resume=True))
    third = run_task(task, client, progress=False)
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
    task = BlockTask(
        "segment", grid, ToyBlock(output.array, output.markers, fail={3}), done=ledger, retries=2
    )
    summary = run_task(task, client, progress=False)
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
    task = BlockTask(
        "toy", list(grid)[::-1], ToyBlock(output.array, output.markers), done=output.ledger()
    )
    summary = run_task(task, client, max_in_flight=1, progress=True)
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
        task = BlockTask(
            "toy",
            list(grid)[:4],
            ToyBlock(output.array, output.markers, sleep=0.2, spans=spans),
            total=Box.from_shape(SHAPE),
            done=output.ledger(),
            resources={"GPU": 1},
        )
        summary = run_task(task, gpu_client, progress=False)
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


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "cluster"])
def test_collected_results_come_in_block_order_whatever_order_blocks_finish(
    client, output: Output, inline: bool
) -> None:
    blocks = list(output.grid)[::-1]
    # the first blocks of the order are the slowest: on the cluster they finish last
    slow = {b.id: 0.5 for b in blocks[:2]}
    task = BlockTask("toy", blocks, ToyBlock(output.array, output.markers, slow=slow), collect=True)
    summary = run_task(task, None if inline else client, progress=False)
    stats = [{"voxels": b.box.size, "tiles": 1, "skipped": 0} for b in blocks]
    assert summary.results == tuple(stats)
    assert summary.done == len(blocks) and summary.ok
    np.testing.assert_array_equal(read(output), expected(Box.from_shape(SHAPE)))
    # nothing done beforehand and nothing recorded without a ledger
    assert not Ledger(output.path).exists


def test_inline_and_cluster_runs_give_the_same_bytes_and_results(
    client, output: Output, tmp_path
) -> None:
    grid = output.grid
    factors = {b.id: b.id % 3 + 1 for b in grid}
    outcomes = []
    for name, runner in (("inline", None), ("cluster", client)):
        path = tmp_path / f"{name}.zarr"
        make_array(path, SHAPE, CHUNKS)
        fn = Scaled(str(path))
        task = BlockTask("scaled", grid, fn, args=lambda b: (factors[b.id],), collect=True)
        summary = run_task(task, runner, progress=False)
        assert summary.results is not None
        outcomes.append(
            (zarr.open_array(tmp_path / f"{name}.zarr")[...], [r[:2] for r in summary.results])
        )
        pids = {r[2] for r in summary.results}
        assert (pids == {os.getpid()}) == (runner is None)  # inline: this process only
    (inline_data, inline_results), (cluster_data, cluster_results) = outcomes
    np.testing.assert_array_equal(inline_data, cluster_data)
    assert inline_results == cluster_results == [(b.id, factors[b.id]) for b in grid]
    want = np.empty(SHAPE, np.int32)
    for b in grid:
        want[b.box.slices] = expected(b.box) * factors[b.id]
    np.testing.assert_array_equal(inline_data, want)


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "cluster"])
def test_a_flaky_block_succeeds_within_its_retries_and_fails_past_them(
    client, output: Output, inline: bool
) -> None:
    grid = output.grid
    runner = None if inline else client
    fn = ToyBlock(output.array, output.markers, flaky={3: 2})
    ok = run_task(BlockTask("toy", grid, fn, retries=2), runner, progress=False)
    assert ok.ok and ok.done == len(grid)
    assert executions(output.markers)[3] == 3  # two failures, then the third try wrote it
    np.testing.assert_array_equal(read(output), expected(Box.from_shape(SHAPE)))

    before = executions(output.markers)
    fn = ToyBlock(output.array, output.markers, flaky={5: 10})
    short = run_task(BlockTask("toy", grid, fn, retries=1), runner, progress=False)
    assert short.failed == {5: "OSError: toy flaky read in block 5"}
    assert (executions(output.markers) - before)[5] == 2  # one try and one retry


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "cluster"])
def test_policy_raise_reraises_the_first_failure_naming_the_block_and_stops_the_rest(
    client, output: Output, inline: bool
) -> None:
    blocks = list(output.grid)
    failing = blocks[1]
    slow = {b.id: 0.3 for b in blocks[2:]}
    task = BlockTask(
        "components: label",
        blocks,
        ToyBlock(output.array, output.markers, fail={failing.id}, slow=slow),
        retries=1,
        on_failure="raise",
        collect=True,
    )
    with pytest.raises(ValueError, match=f"toy failure in block {failing.id}") as err:
        run_task(task, None if inline else client, max_in_flight=2, progress=False)
    assert err.value.__notes__ == [
        f"volseg: components: label failed on {failing.name} ({failing.box})"
    ]
    runs = executions(output.markers)
    assert runs[failing.id] == 2  # its retry too
    # the blocks after it never ran (inline) or were cancelled before most of them started
    started = sum(1 for b in blocks[2:] if runs[b.id])
    assert started == 0 if inline else started <= 4


def test_policy_collect_reports_every_failure_and_finishes_the_others(output: Output) -> None:
    grid = output.grid
    task = BlockTask("toy", grid, ToyBlock(output.array, output.markers, fail={2, 7}), retries=0)
    summary = run_task(task, progress=False)  # inline
    assert summary.failed == {
        2: "ValueError: toy failure in block 2",
        7: "ValueError: toy failure in block 7",
    }
    assert summary.done == len(grid) - 2 and not summary.ok
    assert summary.results is None  # not collected
    data = read(output)
    for block in grid:
        want = FILL if block.id in (2, 7) else expected(block.box)
        np.testing.assert_array_equal(data[block.box.slices], want)
