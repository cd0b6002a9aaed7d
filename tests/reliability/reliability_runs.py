"""What the reliability tests share: the inputs of a run, and what a run wrote.

Imported by name (pytest puts this folder on ``sys.path``), like tests/runtime/runtime_toy.py.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from volseg.io import open_labels
from volseg.segment import SegmentConfig, SegmentResult, make_segment_config, segment

#: 8 blocks of one (1, 64, 64) chunk each: whole slices, one labels chunk per block.
SHAPE = (8, 64, 64)
LABELS = "labels/segmentation/0/c/*"


def labels_key(z: int) -> str:
    """The key of block ``z``'s labels chunk, relative to the output store."""
    return f"labels/segmentation/0/c/{z}/0/0"


def block_of(key: str) -> int:
    """The block (= z chunk) of a labels or probabilities chunk key."""
    return int(key.split("/c/")[1].split("/")[-3])


def labels_chunks(out: Path) -> dict[str, str]:
    """The labels chunks stored in ``out`` (complete or not): key -> sha256 of the file."""
    folder = out / "labels" / "segmentation" / "0" / "c"
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


@dataclass(frozen=True)
class Inputs:
    """A phantom, a tiny seeded checkpoint, and the options every run here shares."""

    volume: Path
    model: Path

    def config(self, out: Path, **options: Any) -> SegmentConfig:
        values = {
            "volume": str(self.volume),
            "model": str(self.model),
            "out": str(out),
            "tile": 32,
            "overlap": 16,
            "device": "cpu",
            "probabilities": "uint8",
            "retries": 0,
        }
        return make_segment_config(values | options)

    def segment(self, out: Path, *, client: Any = None, **options: Any) -> SegmentResult:
        """``segment`` on ``client``, else inline (in this process)."""
        return segment(
            self.config(out, **options), progress=False, client=client, inline=client is None
        )

    def cli_args(self, out: Path) -> list[object]:
        """``volseg segment`` with the same options, on a local cluster of one worker."""
        return ["segment", self.volume, "--model", self.model, "--out", out, "--tile", "32",
                "--overlap", "16", "--device", "cpu", "--probabilities", "uint8",
                "--retries", "0", "--workers", "1", "--threads", "1", "--no-progress"]  # fmt: skip


@dataclass(frozen=True)
class Output:
    """What a run wrote: labels and probabilities, and each stored labels chunk's bytes."""

    labels: np.ndarray
    probabilities: np.ndarray
    chunks: dict[str, str]  # labels chunk key -> sha256 of its file

    @classmethod
    def read(cls, out: Path) -> Output:
        """The output of a complete run."""
        return cls(
            open_labels(out, "segmentation").values,
            np.asarray(zarr.open_group(out, mode="r")["probabilities"]),
            labels_chunks(out),
        )

    def assert_equal(self, other: Output, *, probability_steps: int = 0) -> None:
        """Labels and labels chunk bytes identical; probabilities identical, or within
        ``probability_steps`` uint8 steps in at most 0.01 % of voxels."""
        np.testing.assert_array_equal(other.labels, self.labels)
        assert other.chunks == self.chunks
        if not probability_steps:
            np.testing.assert_array_equal(other.probabilities, self.probabilities)
            return
        diff = np.abs(other.probabilities.astype(int) - self.probabilities.astype(int))
        assert diff.max() <= probability_steps and (diff > 0).mean() <= 1e-4, diff.max()


def dead(pid: int) -> bool:
    """Whether no process has ``pid`` (a killed worker is gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
