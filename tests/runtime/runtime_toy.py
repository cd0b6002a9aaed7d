"""A toy block function for runtime tests: writes a known function of global coordinates.

Imported by the test modules and, by name, by dask worker processes (pytest puts this
folder on ``sys.path``; spawned workers inherit it, CLI workers get it via PYTHONPATH).
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr

from volseg.geometry import Block, BlockGrid, Box
from volseg.runtime import Ledger, plan_blocks

FILL = -1
SHAPE = (6, 40, 36)  # awkward: blocks at the edges are clipped
CHUNKS = (2, 8, 12)
BLOCK = (2, 16, 24)


@dataclass
class Output:
    """An output store with one int32 array, its plan and a marker folder."""

    path: Path
    array: Path
    markers: Path

    @property
    def grid(self) -> BlockGrid:
        return plan_blocks(SHAPE, CHUNKS, BLOCK)

    @property
    def layout(self) -> dict[str, object]:
        return {"shape": list(SHAPE), "chunks": list(CHUNKS), "block": list(BLOCK), "fn": "toy"}

    def ledger(self, *, resume: bool = False) -> Ledger:
        ledger = Ledger(self.path)
        ledger.start(self.layout, resume=resume)
        return ledger


def expected(box: Box) -> np.ndarray:
    """The value every run must write: ``z * 10**6 + y * 10**3 + x`` (global coordinates)."""
    z, y, x = np.meshgrid(
        *(np.arange(a, b) for a, b in zip(box.start, box.stop, strict=True)), indexing="ij"
    )
    return (z * 1_000_000 + y * 1_000 + x).astype(np.int32)


def make_array(path: Path, shape: Sequence[int], chunks: Sequence[int]) -> zarr.Array:
    return zarr.create_array(
        path,
        shape=tuple(shape),
        chunks=tuple(chunks),
        dtype="int32",
        fill_value=FILL,
        zarr_format=3,
    )


def executions(marker_dir: Path) -> Counter[int]:
    """How many times each block id started executing (one marker file per execution)."""
    return Counter(int(p.name.split(".")[0]) for p in marker_dir.iterdir())


def marker_pids(marker_dir: Path, block_id: int) -> list[int]:
    return [int(p.name.split(".")[1]) for p in marker_dir.glob(f"{block_id}.*")]


class ToyBlock:
    """Block function: records an execution marker, optionally sleeps or fails, writes data.

    ``fail`` ids raise a ValueError every time; with ``fail_after_write`` they write their
    data first (a block that died between its data and its done marker). ``flaky`` ids
    fail their first ``flaky[id]`` executions, then succeed.
    """

    def __init__(
        self,
        array_path: Path,
        marker_dir: Path,
        *,
        fail: Sequence[int] = (),
        fail_after_write: bool = False,
        sleep: float = 0.0,
        slow: Mapping[int, float] | None = None,
        spans: Path | None = None,
        flaky: Mapping[int, int] | None = None,
    ) -> None:
        self.array_path = str(array_path)
        self.marker_dir = Path(marker_dir)
        self.fail = frozenset(fail)
        self.fail_after_write = fail_after_write
        self.sleep = sleep
        self.slow = dict(slow or {})
        self.spans = spans
        self.flaky = dict(flaky or {})

    def __call__(self, block: Block) -> dict[str, int]:
        (self.marker_dir / f"{block.id}.{os.getpid()}.{uuid.uuid4().hex}").touch()
        t0 = time.time()
        time.sleep(self.slow.get(block.id, self.sleep))
        if block.id in self.fail and not self.fail_after_write:
            raise ValueError(f"toy failure in block {block.id}")
        if executions(self.marker_dir)[block.id] <= self.flaky.get(block.id, 0):
            raise OSError(f"toy flaky read in block {block.id}")
        arr = zarr.open_array(self.array_path, mode="r+")
        arr[block.box.slices] = expected(block.box)
        if block.id in self.fail:
            raise ValueError(f"toy failure after writing block {block.id}")
        if self.spans is not None:
            (self.spans / f"{block.id}.{uuid.uuid4().hex}").write_text(f"{t0} {time.time()}")
        return {"voxels": block.box.size, "tiles": 1, "skipped": 0}


@dataclass(frozen=True)
class Scaled:
    """A block function with a per-block argument: writes ``expected * factor`` and returns
    ``(block id, factor, pid)``."""

    array: str

    def __call__(self, block: Block, factor: int) -> tuple[int, int, int]:
        zarr.open_array(self.array, mode="r+")[block.box.slices] = expected(block.box) * factor
        return block.id, factor, os.getpid()
