"""What a block run did: counts, failures, throughput, summed block stats."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from volseg.errors import BlocksFailedError


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


#: Groups of failures shown by a summary (the rest are counted).
SHOWN_GROUPS = 5
#: Block ids listed per group (the rest are counted).
SHOWN_IDS = 10


def id_list(ids: Sequence[int], unit: str = "blocks") -> str:
    """``"block 3"``, ``"blocks 2, 5, 9"``, ``"blocks 1, 2, ... and 7 more"``."""
    ids = sorted(ids)
    one = unit[:-1] if unit.endswith("s") else unit
    shown = ", ".join(str(i) for i in ids[:SHOWN_IDS])
    more = f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
    return f"{one if len(ids) == 1 else unit} {shown}{more}"


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
    pending
        Blocks neither done nor failed when the run stopped early (the cluster was lost,
        the driver could not write its ledger): a resume runs them.
    damaged
        ``{damaged chunk: block ids}``: the failed blocks whose input chunk is missing or
        corrupt, grouped by that chunk (its one-line message, naming the array and the
        key), so a chunk needed by several blocks is named once.
    resumable
        Whether the run keeps a done ledger, so that ``--resume`` continues it.
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
    pending: int = 0
    damaged: dict[str, tuple[int, ...]] = field(default_factory=dict)
    resumable: bool = True

    @property
    def total(self) -> int:
        return self.done + self.skipped + len(self.failed) + self.pending

    @property
    def ok(self) -> bool:
        """True when every block is done (turn False into a non-zero exit)."""
        return not self.failed and not self.pending

    def failure_groups(self) -> list[str]:
        """One line per damaged chunk (the blocks that need it listed), then one per
        distinct other error (the blocks that failed with it listed); by first block id."""
        groups: dict[str, list[int]] = {}
        chunk_of = {i: chunk for chunk, ids in self.damaged.items() for i in ids}
        for block_id in sorted(self.failed):
            chunk = chunk_of.get(block_id)
            key = f"damaged: {chunk}" if chunk else self.failed[block_id]
            groups.setdefault(key, []).append(block_id)
        lines = []
        for key, ids in groups.items():
            if key.startswith("damaged: "):
                lines.append(f"{key}; needed by {id_list(ids, self.unit)}")
            else:
                lines.append(f"failed {id_list(ids, self.unit)}: {key}")
        return lines

    def __str__(self) -> str:
        pending = f", {self.pending} pending" if self.pending else ""
        line = (
            f"{self.description}: {self.done} {self.unit} done, {self.skipped} skipped, "
            f"{len(self.failed)} failed{pending} of {self.total} in {self.seconds:.1f} s"
        )
        if self.voxels_per_s:
            line += f" ({format_rate(self.voxels_per_s)})"
        if self.unit != "blocks":
            return line  # failures are reported by the caller, by name
        groups = self.failure_groups()
        lines = [line, *groups[:SHOWN_GROUPS]]
        if len(groups) > SHOWN_GROUPS:
            lines.append(f"and {len(groups) - SHOWN_GROUPS} more errors")
        if self.failed or self.pending:
            what = " and ".join(
                w for w, n in (("the failed", len(self.failed)), ("the pending", self.pending)) if n
            )
            lines.append(
                f"re-run with --resume to run {what} blocks"
                if self.resumable
                else "run the command again once the cause is fixed"
            )
        return "\n".join(lines)


def attach_summary(exc: BaseException, summary: RunSummary, *, shown: bool = False) -> None:
    """Attach ``summary`` (the run so far) to ``exc``, which stopped the run; the command
    line shows it above the error (:func:`summary_of`) unless it was ``shown`` already."""
    exc.volseg_summary = summary  # type: ignore[attr-defined]
    exc.volseg_summary_shown = shown  # type: ignore[attr-defined]


def _carrier(exc: BaseException | None) -> BaseException | None:
    """``exc``, or the exception it was raised while handling (closing the cluster after a
    lost scheduler may fail too), that carries a run summary; None if none does."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(getattr(exc, "volseg_summary", None), RunSummary):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def stopped_a_run(exc: BaseException) -> bool:
    """Whether ``exc`` stopped a block run under way (it carries the run's summary)."""
    return _carrier(exc) is not None


def summary_of(exc: BaseException | None) -> RunSummary | None:
    """The run summary ``exc`` carries (see :func:`attach_summary`); None when there is
    none, or it was shown already."""
    carrier = _carrier(exc)
    if carrier is None or getattr(carrier, "volseg_summary_shown", False):
        return None
    summary: RunSummary = carrier.volseg_summary  # type: ignore[attr-defined]
    return summary


def failed_error(summary: RunSummary, *, shown: bool = False) -> BlocksFailedError:
    """The error of a job that cannot go on because blocks of ``summary`` failed: it names
    the first damaged chunk (or error) and the blocks that need it, and carries the
    summary (``shown``: printed already)."""
    groups = summary.failure_groups() or ["no error recorded"]
    more = f" (and {len(groups) - 1} more: see the summary)" if len(groups) > 1 else ""
    exc = BlocksFailedError(
        f"{summary.description}: {len(summary.failed)} of {summary.total} {summary.unit} "
        f"failed — {groups[0]}{more}"
    )
    attach_summary(exc, summary, shown=shown)
    return exc
