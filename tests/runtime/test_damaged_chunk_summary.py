"""A damaged chunk needed by several blocks is named once by the run summary: one line per
chunk, listing the blocks that need it; the blocks that do not need it finish."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from volseg.geometry import Block, BlockGrid, Box
from volseg.io import StrictArray, VolumeStore, strict_image
from volseg.runtime import BlockTask, Ledger, RunSummary, run_task

SHAPE = (6, 8, 8)


@dataclass(frozen=True)
class HaloBlock:
    """Reads its slice and one slice either side (as a 2.5D model's context does)."""

    image: StrictArray

    def __call__(self, block: Block) -> dict[str, int]:
        return {"sum": int(self.image[halo(block).slices].sum())}


def halo(block: Block) -> Box:
    return block.box.grow((1, 0, 0)).clip(Box.from_shape(SHAPE))


@pytest.fixture
def image(tmp_path: Path) -> StrictArray:
    store = VolumeStore.create(tmp_path / "v.zarr", shape=SHAPE, dtype="uint8", chunks=(1, 8, 8))
    store.image(0)[:] = np.arange(np.prod(SHAPE), dtype=np.uint64).reshape(SHAPE) % 251
    chunk = tmp_path / "v.zarr" / "0" / "c" / "2" / "0" / "0"
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    chunk.write_bytes(bytes(raw))
    (tmp_path / "v.zarr" / "0" / "c" / "5" / "0" / "0").unlink()
    return strict_image(store.image(0))


@pytest.mark.parametrize("where", ["inline", "cluster"])
def test_a_chunk_needed_by_three_blocks_is_named_once(
    image: StrictArray, tmp_path: Path, where: str, request: pytest.FixtureRequest
) -> None:
    client = request.getfixturevalue("client") if where == "cluster" else None
    ledger = Ledger(tmp_path / "out")
    ledger.start({"toy": 1}, resume=False)
    grid = BlockGrid(SHAPE, (1, 8, 8))
    task = BlockTask("halo", grid, HaloBlock(image), read_box=halo, done=ledger, retries=0)
    summary = run_task(task, client, progress=False)
    corrupt = f"image chunk c/2/0/0 of {image.location} is corrupt (checksum mismatch)"
    missing = f"image chunk c/5/0/0 of {image.location} is missing"
    assert sorted(summary.failed) == [1, 2, 3, 4, 5]
    assert {k.split(":")[0]: v for k, v in summary.damaged.items()} == {
        corrupt.split(":")[0]: (1, 2, 3),
        missing.split(":")[0]: (4, 5),
    }
    assert summary.done == 1 and sorted(ledger.done()) == [0]
    lines = str(summary).splitlines()
    assert lines[0].startswith("halo: 1 blocks done, 0 skipped, 5 failed of 6 in ")
    assert lines[1].startswith(f"damaged: {corrupt}: restore it")
    assert lines[1].endswith("; needed by blocks 1, 2, 3")
    assert lines[2].startswith(f"damaged: {missing}: restore it")
    assert lines[2].endswith("; needed by blocks 4, 5")
    assert lines[3] == "re-run with --resume to run the failed blocks"
    assert len(lines) == 4  # each chunk on one line, once
    assert sum("c/2/0/0" in line for line in lines) == 1


def test_other_errors_are_grouped_by_text_and_long_lists_cut() -> None:
    failed = {i: "RuntimeError: boom" for i in range(12)} | {20: "ValueError: odd"}
    summary = RunSummary(
        done=0, skipped=0, failed=failed, pending=3, description="toy", resumable=False
    )
    assert str(summary).splitlines() == [
        "toy: 0 blocks done, 0 skipped, 13 failed, 3 pending of 16 in 0.0 s",
        "failed blocks 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 2 more: RuntimeError: boom",
        "failed block 20: ValueError: odd",
        "run the command again once the cause is fixed",
    ]
    assert not summary.ok and summary.total == 16
    assert not RunSummary(done=1, skipped=0, pending=1).ok
