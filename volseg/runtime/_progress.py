"""Live progress bars on stderr: a plain count bar, and the bar of block runs (blocks
done/total, voxels/s, failures, ETA)."""

from __future__ import annotations

import sys
import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from volseg.runtime._summary import format_rate


def count_bar(*, enabled: bool, unit: str = "") -> Progress:
    """A bar of ``done/total [unit]``, elapsed time and ETA on stderr (nothing when disabled)."""
    unit_column = (TextColumn(unit),) if unit else ()
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *unit_column,
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


class BlockProgress:
    """Progress of a block run, advanced by the client as each block's result arrives.

    It is driven from the client (``as_completed``), so it works with any distributed
    cluster — local, remote or SLURM — and needs no scheduler plugin. With ``enabled=False``
    nothing is drawn.
    """

    def __init__(
        self, description: str, *, total: int, skipped: int, enabled: bool, unit: str = "blocks"
    ) -> None:
        self._console = Console(stderr=True)
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(unit),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[failed]}", style="red"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self._console,
            disable=not enabled,
            transient=False,
        )
        self._task = self._bar.add_task(
            description, total=total, completed=skipped, rate="", failed=""
        )
        self._start = time.perf_counter()
        self._voxels = 0
        self._failed = 0
        self.enabled = enabled

    def advance(self, voxels: int, *, failed: bool = False) -> None:
        """One more block finished (or failed for good) with ``voxels`` voxels."""
        if failed:
            self._failed += 1
        else:
            self._voxels += voxels
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        self._bar.update(
            self._task,
            advance=1,
            rate=format_rate(self._voxels / elapsed) if self._voxels else "",
            failed=f"{self._failed} failed" if self._failed else "",
        )

    def print(self, text: str) -> None:
        if self.enabled:
            self._console.print(text, highlight=False, markup=False)

    def __enter__(self) -> BlockProgress:
        self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.stop()
        sys.stderr.flush()
