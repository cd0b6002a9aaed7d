"""Run a block function over a block plan on a dask cluster: resume, retries, bounded work."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from volseg.errors import ClusterConnectionError, GeometryError
from volseg.geometry import BlockGrid
from volseg.runtime._bounded import as_completed_bounded
from volseg.runtime._ledger import Ledger
from volseg.runtime._progress import BlockProgress
from volseg.runtime._summary import RunSummary, add_stats

if TYPE_CHECKING:  # distributed is imported when a run starts: `import volseg` stays fast
    from distributed import Client, Future

#: Seconds between refreshes of the cluster's thread count (it changes as SLURM jobs start).
_REFRESH_S = 2.0


class Unit(Protocol):
    """What the runner needs of a unit of work: a stable ``id`` and a readable ``name``
    (a :class:`~volseg.geometry.Block`, or a study's training run)."""

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...


U = TypeVar("U", bound=Unit)


def _box_size(block: Any) -> int:
    return int(block.box.size)


def _total_threads(client: Client) -> int:
    return sum(int(n) for n in client.nthreads().values())


def _error_text(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


class _Threads:
    """The in-flight limit of a run: ``fixed``, else twice the cluster's threads, refreshed
    every :data:`_REFRESH_S` seconds (the cluster grows as SLURM jobs start)."""

    def __init__(self, client: Client, fixed: int | None) -> None:
        self.client, self.fixed = client, fixed
        self.value = fixed or 2 * max(1, _total_threads(client))
        self.refreshed = time.monotonic()

    def limit(self) -> int:
        if self.fixed is None and time.monotonic() - self.refreshed > _REFRESH_S:
            self.value = 2 * max(1, _total_threads(self.client))
            self.refreshed = time.monotonic()
        return self.value


def _run_inline(
    todo: list[U],
    fn: Callable[[U], Mapping[str, Any] | None],
    retries: int,
) -> Iterator[tuple[U, Mapping[str, Any] | None, BaseException | None]]:
    """Run the blocks one after another in this process (``retries`` extra attempts each)."""
    for block in todo:
        for attempt in range(retries + 1):
            try:
                result = fn(block)
            except Exception as exc:  # reported per block, like a failed dask task
                if attempt == retries:
                    yield block, None, exc
            else:
                yield block, result, None
                break


def run_blocks(
    client: Client | None,
    blocks: BlockGrid | Iterable[U],
    fn: Callable[[U], Mapping[str, Any] | None],
    *,
    ledger: Ledger,
    retries: int = 2,
    description: str = "segment",
    voxels_of: Callable[[U], int] = _box_size,
    unit: str = "blocks",
    progress: bool = True,
    resources: Mapping[str, float] | None = None,
    max_in_flight: int | None = None,
) -> RunSummary:
    """Run ``fn`` on every block not yet done in ``ledger``, marking each done as it finishes.

    Parameters
    ----------
    client
        A client of any dask.distributed cluster (see :func:`connect`); ``None`` runs the
        blocks one after another in this process, with the same ledger, retries and summary
        (for callers that already are one task of a cluster, e.g. a study run).
    blocks
        The plan (:func:`plan_blocks`) or any blocks with distinct ids (any :class:`Unit`:
        an ``id`` and a ``name``, e.g. the runs of a study).
    fn
        The block function: picklable, pure and idempotent; it writes the block's chunks
        itself and returns small stats, e.g. ``{"voxels": n, "tiles": t}``.
    ledger
        A started :class:`Ledger` of the output. Blocks done in it are skipped; a block is
        marked done only after its task returned, i.e. after its data is written.
    retries
        Extra attempts of a failing block before it is reported in ``failed``. (A block
        whose worker dies is rescheduled by dask on its own, up to the scheduler's
        ``distributed.scheduler.allowed-failures``.)
    description
        Name of the run in task keys, the progress bar and the summary.
    voxels_of
        Voxels a block counts for in the throughput (its box size by default; return 0
        for units without voxels: no rate is shown then).
    unit
        What the progress bar counts (``blocks``, ``runs``).
    progress
        Draw a live progress bar on stderr and print the summary line at the end.
    resources
        Resources each task needs, e.g. ``{"GPU": 1}`` for GPU execution: a worker then
        runs at most as many blocks at once as it has GPUs. Workers must declare them.
    max_in_flight
        Most tasks submitted and not yet returned; default twice the cluster's threads.
        Bounding it keeps the scheduler's and the client's memory flat for any number of
        blocks: the rest are submitted as tasks finish.

    Returns
    -------
    RunSummary
        Counts, the failed blocks with their errors, wall time, voxels/s, summed stats.
        Failed blocks do not stop the others; ``summary.ok`` is False when any failed.

    Raises
    ------
    ClusterConnectionError
        The cluster was lost mid-run. Finished blocks are in the ledger: resume.
    GeometryError
        Two blocks with the same id.

    Notes
    -----
    Interrupting the run (Ctrl-C) cancels the tasks in flight; everything marked done
    stays done. Task keys carry a per-run token, so a new run on a long-lived cluster never
    picks up a stale result.
    """
    plan: list[Any] = list(blocks)
    ids = [b.id for b in plan]
    if len(set(ids)) != len(ids):
        raise GeometryError("run_blocks got two blocks with the same id; ids must be unique")
    done_before = ledger.done()
    todo = [b for b in plan if b.id not in done_before]
    skipped = len(plan) - len(todo)
    done = 0
    voxels = 0
    failed: dict[int, str] = {}
    stats: dict[str, float] = {}
    start = time.perf_counter()
    bar = BlockProgress(description, total=len(plan), skipped=skipped, enabled=progress, unit=unit)

    def finished(block: Any, result: Any) -> None:
        nonlocal done, voxels
        ledger.mark_done(block.id, result if isinstance(result, Mapping) else None)
        add_stats(stats, result)
        done += 1
        n = voxels_of(block)
        voxels += n
        bar.advance(n)

    if client is None:
        with bar:
            for block, result, error in _run_inline(todo, fn, retries):
                if error is None:
                    finished(block, result)
                else:
                    failed[block.id] = _error_text(error)
                    bar.advance(0, failed=True)
        return _summary(bar, done, skipped, failed, start, voxels, stats, description, unit)

    token = uuid.uuid4().hex[:8]
    threads = _Threads(client, fixed=max_in_flight)

    def submit(block: Any) -> Future:
        return client.submit(
            fn,
            block,
            key=f"{description}-{block.id}-{token}",
            retries=retries,
            pure=False,
            resources=dict(resources) if resources else None,
        )

    with bar, contextlib.closing(as_completed_bounded(client, todo, submit, threads.limit)) as run:
        for future, block in run:
            if future.status == "finished":
                finished(block, future.result())
            elif future.status == "error":
                failed[block.id] = _error_text(future.exception())
                bar.advance(0, failed=True)
            else:
                raise ClusterConnectionError(
                    f"lost {block.name} (task {future.status}): the connection to the "
                    f"dask scheduler went away; {len(done_before) + done} blocks are "
                    "recorded done in the ledger — run again with --resume"
                )
    return _summary(bar, done, skipped, failed, start, voxels, stats, description, unit)


def _summary(
    bar: BlockProgress,
    done: int,
    skipped: int,
    failed: dict[int, str],
    start: float,
    voxels: int,
    stats: dict[str, float],
    description: str,
    unit: str,
) -> RunSummary:
    seconds = time.perf_counter() - start
    summary = RunSummary(
        done=done,
        skipped=skipped,
        failed=failed,
        seconds=seconds,
        voxels_per_s=voxels / seconds if seconds > 0 else 0.0,
        stats_sum=stats,
        description=description,
        unit=unit,
    )
    bar.print(str(summary))
    return summary
