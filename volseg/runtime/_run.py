"""The block runner: one :class:`BlockTask` on a dask cluster (or in this process) —
done checks, retries, bounded work in flight, progress, a failure policy, the summary."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from volseg.errors import ClusterConnectionError, CorruptChunkError, MissingChunkError
from volseg.runtime._bounded import as_completed_bounded
from volseg.runtime._progress import BlockProgress
from volseg.runtime._summary import RunSummary, add_stats, attach_summary
from volseg.runtime._task import BlockTask, U

if TYPE_CHECKING:  # distributed is imported when a run starts: `import volseg` stays fast
    from distributed import Client, Future

#: Seconds between refreshes of the cluster's thread count (it changes as SLURM jobs start).
_REFRESH_S = 2.0
#: Tasks in flight at least: enough to hide the client–scheduler round trip of small tasks.
_MIN_IN_FLIGHT = 16
#: Seconds a run waits for workers to come back after all of its cluster's workers are
#: gone, before it stops (a cluster that never had workers, e.g. SLURM jobs still queued,
#: is waited for); ``VOLSEG_WORKER_TIMEOUT`` overrides it.
WORKER_TIMEOUT_S = 120.0


def _total_threads(client: Client) -> int:
    return sum(int(n) for n in client.nthreads().values())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else ""


def _error_text(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    return f"{type(exc).__name__}: {_first_line(exc)}".rstrip(": ")


def worker_timeout() -> float:
    """Seconds to wait for workers once all are gone: ``VOLSEG_WORKER_TIMEOUT`` or
    :data:`WORKER_TIMEOUT_S`."""
    text = os.environ.get("VOLSEG_WORKER_TIMEOUT", "").strip()
    try:
        return float(text) if text else WORKER_TIMEOUT_S
    except ValueError:
        return WORKER_TIMEOUT_S


def _address(client: Client) -> str:
    """The scheduler's address, for messages (a client that lost it may not know it)."""
    return str(getattr(client.scheduler, "address", None) or "an unknown address")


class _Threads:
    """The in-flight limit of a run: ``fixed``, else twice the cluster's threads (at least
    :data:`_MIN_IN_FLIGHT`), refreshed every :data:`_REFRESH_S` seconds (the cluster grows
    as SLURM jobs start)."""

    def __init__(self, client: Client, fixed: int | None) -> None:
        self.client, self.fixed = client, fixed
        self.value = fixed or self._derived()
        self.refreshed = time.monotonic()

    def _derived(self) -> int:
        return max(_MIN_IN_FLIGHT, 2 * _total_threads(self.client))

    def limit(self) -> int:
        if self.fixed is None and time.monotonic() - self.refreshed > _REFRESH_S:
            # a scheduler that stopped answering is the run's watch's to report
            with contextlib.suppress(Exception):
                self.value = self._derived()
            self.refreshed = time.monotonic()
        return self.value


def _attempts(task: BlockTask[U], todo: list[tuple[int, U]]) -> Iterator[tuple[int, U, Any, Any]]:
    """Run the blocks one after another in this process (``task.retries`` extra attempts
    each); yield ``(index, block, result, error)``."""
    for index, block in todo:
        for attempt in range(task.retries + 1):
            try:
                result = task.process(*task.call_args(block))
            except Exception as exc:  # reported per block, like a failed dask task
                if attempt == task.retries:
                    yield index, block, None, exc
            else:
                yield index, block, result, None
                break


class _Watch:
    """The ``idle`` check of a run on a cluster: raises ClusterConnectionError when the
    scheduler cannot be asked any more, or when every worker the run had (seen by the
    scheduler, or running its blocks) is gone and none came back within
    :func:`worker_timeout` seconds (the tasks would wait forever)."""

    def __init__(self, client: Client, run: _Run) -> None:
        self.client, self.run = client, run
        self.had_workers = False
        with contextlib.suppress(Exception):  # asked again when the run is idle
            self.had_workers = _total_threads(client) > 0
        self.none_since: float | None = None
        self.timeout = worker_timeout()

    def __call__(self) -> None:
        try:
            threads = _total_threads(self.client)
        except Exception as exc:  # the scheduler is gone: the connection fails or times out
            raise self.run.lost(
                f"the dask scheduler at {_address(self.client)} cannot be "
                f"reached ({_error_text(exc)})"
            ) from exc
        if threads:
            self.had_workers, self.none_since = True, None
            return
        if not (self.had_workers or self.run.done or self.run.failed):
            return  # workers still to come (SLURM jobs in the queue)
        now = time.monotonic()
        if self.none_since is None:
            self.none_since = now
        elif now - self.none_since > self.timeout:
            raise self.run.lost(
                f"every dask worker of the cluster at {_address(self.client)} is gone and "
                f"none came back within {self.timeout:.0f} s (VOLSEG_WORKER_TIMEOUT)"
            )


class _Run:
    """The bookkeeping of one run: done markers, stats, results, failures, the bar."""

    def __init__(self, task: BlockTask[Any], *, progress: bool) -> None:
        self.task = task
        self.done_before = task.done.done() if task.done is not None else set()
        blocks = list(task)
        self.todo = [(i, b) for i, b in enumerate(blocks) if b.id not in self.done_before]
        self.skipped = len(blocks) - len(self.todo)
        self.results: list[Any] | None = [None] * len(blocks) if task.collect else None
        self.done = 0
        self.voxels = 0
        self.failed: dict[int, str] = {}
        self.damaged: dict[str, list[int]] = {}
        self.stats: dict[str, float] = {}
        self.start = time.perf_counter()
        self.bar = BlockProgress(
            task.name, total=len(blocks), skipped=self.skipped, enabled=progress, unit=task.unit
        )

    def finished(self, index: int, block: Any, result: Any) -> None:
        if self.task.done is not None:  # after the block's data is written: it returned
            self.task.done.mark_done(block.id, result if isinstance(result, Mapping) else None)
        add_stats(self.stats, result)
        if self.results is not None:
            self.results[index] = result
        self.done += 1
        n = self.task.voxels_of(block)
        self.voxels += n
        self.bar.advance(n)

    def failed_for_good(self, block: Any, exc: BaseException | None) -> None:
        self.failed[block.id] = _error_text(exc)
        if isinstance(exc, CorruptChunkError | MissingChunkError):
            # one line per damaged chunk in the summary, however many blocks need it
            self.damaged.setdefault(_first_line(exc), []).append(block.id)
        if self.task.on_failure == "raise":
            exc = exc if exc is not None else RuntimeError("the task failed without an error")
            exc.add_note(f"volseg: {self.task.name} failed on {self.task.describe(block)}")
            raise exc
        self.bar.advance(0, failed=True)

    def lost(self, what: str) -> ClusterConnectionError:
        """The error of a run whose cluster is gone: ``what`` happened, and how to go on."""
        if self.task.done is not None:
            done = len(self.done_before) + self.done
            fix = (
                f"{done} {self.task.unit} are recorded done in the ledger: run again with "
                "--resume (on a cluster that runs) to continue"
            )
        else:
            fix = "run again on a cluster that runs"
        return ClusterConnectionError(f"{self.task.name} stopped: {what}; {fix}")

    def summary(self, *, stopped: bool = False) -> RunSummary:
        """What the run did; ``stopped``: it ends early (the summary is then shown with the
        error that stopped it, not here)."""
        seconds = time.perf_counter() - self.start
        summary = RunSummary(
            done=self.done,
            skipped=self.skipped,
            failed=self.failed,
            seconds=seconds,
            voxels_per_s=self.voxels / seconds if seconds > 0 else 0.0,
            stats_sum=self.stats,
            description=self.task.name,
            unit=self.task.unit,
            results=None if self.results is None else tuple(self.results),
            pending=len(self.todo) - self.done - len(self.failed),
            damaged={chunk: tuple(sorted(ids)) for chunk, ids in self.damaged.items()},
            resumable=self.task.done is not None,
        )
        if not stopped:
            self.bar.print(str(summary))
        return summary


def run_task(
    task: BlockTask[Any],
    client: Client | None = None,
    *,
    progress: bool = True,
    max_in_flight: int | None = None,
) -> RunSummary:
    """Run every block of ``task`` that its done check does not mark done.

    Parameters
    ----------
    task
        The blocks, their process function, done check, retries and failure policy.
    client
        A client of any dask.distributed cluster (see :func:`connect`); ``None`` runs the
        blocks one after another in this process, with the same done check, retries,
        failure policy and summary (for callers that already are one task of a cluster,
        e.g. a study run).
    progress
        Draw a live progress bar on stderr and print the summary line at the end.
    max_in_flight
        Most tasks submitted and not yet returned; default twice the cluster's threads
        (16 at least). Bounding it keeps the scheduler's and the client's memory flat for
        any number of blocks: the rest are submitted as tasks finish.

    Returns
    -------
    RunSummary
        Counts, the failed blocks with their errors (policy ``"collect"``), wall time,
        voxels/s, summed stats and, when the task collects them, every block's result in
        block order (None for a block skipped as done, or failed).

    Raises
    ------
    Exception
        Policy ``"raise"``: the exception of the first block that failed for good, with a
        note naming the block (the blocks in flight are cancelled).
    ClusterConnectionError
        The cluster was lost mid-run. Blocks finished are in the done ledger: resume.

    Notes
    -----
    A block is marked done only after its task returned, i.e. after its data is written.
    Interrupting the run (Ctrl-C) cancels the tasks in flight; everything marked done
    stays done. Task keys carry a per-run token, so a new run on a long-lived cluster
    never picks up a stale result. The order blocks are submitted in is the order of
    ``task.blocks``; results never depend on it.

    Examples
    --------
    >>> task = BlockTask("segment", grid, SegmentBlock(run, out), done=ledger)  # doctest: +SKIP
    >>> summary = run_task(task, client)  # doctest: +SKIP
    >>> if not summary.ok:  # doctest: +SKIP
    ...     raise SystemExit(1)
    """
    run = _Run(task, progress=progress)
    try:
        if client is None:
            with run.bar:
                for index, block, result, error in _attempts(task, run.todo):
                    if error is None:
                        run.finished(index, block, result)
                    else:
                        run.failed_for_good(block, error)
        else:
            _on_cluster(run, client, max_in_flight)
    except Exception as exc:  # the run stops: the error carries the summary so far
        attach_summary(exc, run.summary(stopped=True))
        raise
    return run.summary()


def _on_cluster(run: _Run, client: Client, max_in_flight: int | None) -> None:
    """The blocks of ``run`` on ``client``'s cluster, at most ``max_in_flight`` at once."""
    task = run.task
    token = uuid.uuid4().hex[:8]
    prefix = "-".join(task.name.split())
    threads = _Threads(client, fixed=max_in_flight)
    resources = dict(task.resources) if task.resources else None

    def submit(item: tuple[int, Any]) -> Future:
        _, block = item
        return client.submit(
            task.process,
            *task.call_args(block),
            key=f"{prefix}-{block.id}-{token}",
            retries=task.retries,
            pure=False,
            resources=resources,
        )

    watch = _Watch(client, run)
    blocks = as_completed_bounded(client, run.todo, submit, threads.limit, idle=watch)
    with run.bar, contextlib.closing(blocks) as done:
        for future, (index, block) in done:
            if future.status == "finished":
                run.finished(index, block, future.result())
            elif future.status == "error":
                run.failed_for_good(block, future.exception())
            else:  # cancelled: by the client, as its connection to the scheduler closed
                raise run.lost(
                    f"the connection to the dask scheduler at {_address(client)} was lost "
                    f"({block.name}: task {future.status})"
                )
            # Let go of the result while waiting for the next block: a future still held
            # here would have dask compute its block again if the worker holding it died.
            del future
