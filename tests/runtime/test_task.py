"""BlockTask: the blocks, boxes and policies of a run, checked when the task is made."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from volseg.errors import ConfigError, GeometryError
from volseg.geometry import Block, BlockGrid, Box
from volseg.runtime import BlockTask, run_task

GRID = BlockGrid((6, 40, 36), (2, 16, 24))


def noop(block: Block) -> None:
    return None


@dataclass(frozen=True)
class Run:
    """A unit without a box (like a study's training run)."""

    id: int

    @property
    def name(self) -> str:
        return f"run {self.id}"


def test_a_grid_task_covers_the_grid_volume_with_every_block() -> None:
    task = BlockTask("toy", GRID, noop)
    assert task.total == Box((0, 0, 0), (6, 40, 36))
    assert len(task) == len(GRID) == 18
    assert [b.id for b in task] == list(range(18))
    block = GRID.block(4)
    assert task.read_box_of(block) == block.box  # no halo by default
    assert task.call_args(block) == (block,)
    assert task.voxels_of(block) == block.box.size


def test_two_blocks_with_one_id_are_refused_naming_it() -> None:
    blocks = [GRID.block(3), GRID.block(5), GRID.block(3)]
    with pytest.raises(GeometryError, match=r"two blocks have the id 3 \(block 3 \(z0 y1 x1\)\)"):
        BlockTask("toy", blocks, noop, total=Box.from_shape(GRID.shape))


def test_a_read_box_must_contain_the_block_it_writes() -> None:
    volume = Box.from_shape(GRID.shape)
    halo = BlockTask("toy", GRID, noop, read_box=lambda b: b.box.grow(2).clip(volume))
    assert halo.read_box_of(GRID.block(0)) == Box((0, 0, 0), (4, 18, 26))
    with pytest.raises(GeometryError, match=r"block 0 \(z0 y0 x0\) reads \[0:1, 0:16, 0:24\]"):
        BlockTask("toy", GRID, noop, read_box=lambda b: Box(b.box.start, (1, *b.box.stop[1:])))


def test_a_block_outside_the_volume_is_refused() -> None:
    with pytest.raises(
        GeometryError,
        match=r"block 12 \(z2 y0 x0\) writes \[4:6, 0:16, 0:24\], outside the volume \[0:4, ",
    ):
        BlockTask("toy", list(GRID), noop, total=Box.from_shape((4, 40, 36)))


def test_units_without_boxes_need_no_volume_and_count_no_voxels() -> None:
    runs = [Run(2), Run(0), Run(1)]
    task = BlockTask("study", runs, lambda run: {"trained": run.id}, unit="runs", collect=True)
    assert task.total is None and task.voxels_of(runs[0]) == 0
    summary = run_task(task, progress=False)  # inline
    assert summary.results == ({"trained": 2}, {"trained": 0}, {"trained": 1})
    assert summary.stats_sum == {"trained": 3} and summary.voxels_per_s == 0
    assert str(summary).startswith("study: 3 runs done, 0 skipped, 0 failed of 3")


def test_bad_policies_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"on_failure must be one of \('collect', 'raise'\)"):
        BlockTask("toy", GRID, noop, on_failure="ignore")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="retries must be 0 or more, got -1"):
        BlockTask("toy", GRID, noop, retries=-1)


def test_the_task_is_frozen_and_its_blocks_a_tuple() -> None:
    blocks = list(GRID)[:3]
    task = BlockTask("toy", blocks, noop, total=Box.from_shape(GRID.shape))
    blocks.append(GRID.block(9))  # the caller's list changing later changes nothing
    assert task.blocks == tuple(GRID.block(i) for i in range(3))
    with pytest.raises(AttributeError):
        task.retries = 5  # type: ignore[misc]
