"""What a block run did: counts, failures, throughput, summed block stats."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def format_rate(voxels_per_s: float) -> str:
    for unit, scale in (("Gvoxel/s", 1e9), ("Mvoxel/s", 1e6), ("kvoxel/s", 1e3)):
        if voxels_per_s >= scale:
            return f"{voxels_per_s / scale:.2f} {unit}"
    return f"{voxels_per_s:.0f} voxel/s"


def add_stats(total: dict[str, float], stats: Any) -> None:
    """Add the numeric values of a block's stats dict into ``total`` (others are ignored)."""
    if not isinstance(stats, Mapping):
        return
    for key, value in stats.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            total[str(key)] = total.get(str(key), 0) + value


@dataclass(frozen=True)
class RunSummary:
    """The outcome of :func:`~volseg.runtime.run_task`.

    Attributes
    ----------
    done
        Blocks computed and marked done by this run.
    skipped
        Blocks already done in the ledger (an earlier, interrupted run), not run again.
    failed
        ``{block id: error}`` for blocks that still failed after their retries. They are
        not marked done, so a resume runs them again.
    seconds
        Wall time of the run.
    voxels_per_s
        Voxels of the blocks computed by this run per second of wall time.
    stats_sum
        The numeric stats returned by the block function, summed over this run's blocks.
    description
        The run's name in messages.
    unit
        What was run (blocks, runs).
    results
        When the task collects them (``BlockTask(collect=True)``): every block's return
        value in the order of the task's blocks, None for a block skipped as done or
        failed. None when not collected.
    """

    done: int
    skipped: int
    failed: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0
    voxels_per_s: float = 0.0
    stats_sum: dict[str, float] = field(default_factory=dict)
    description: str = "run"
    unit: str = "blocks"
    results: tuple[Any, ...] | None = field(default=None, repr=False)

    @property
    def total(self) -> int:
        return self.done + self.skipped + len(self.failed)

    @property
    def ok(self) -> bool:
        """True when every block is done (turn False into a non-zero exit)."""
        return not self.failed

    def __str__(self) -> str:
        line = (
            f"{self.description}: {self.done} {self.unit} done, {self.skipped} skipped, "
            f"{len(self.failed)} failed of {self.total} in {self.seconds:.1f} s"
        )
        if self.voxels_per_s:
            line += f" ({format_rate(self.voxels_per_s)})"
        if self.unit != "blocks":
            return line  # failures are reported by the caller, by name
        if self.failed:
            shown = sorted(self.failed)[:5]
            more = f" and {len(self.failed) - len(shown)} more" if len(self.failed) > 5 else ""
            details = "; ".join(f"block {i}: {self.failed[i]}" for i in shown)
            line += f"\nfailed {details}{more}\nre-run with --resume to retry the failed blocks"
        return line
