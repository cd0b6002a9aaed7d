"""Running the runs of a study: one done ledger keyed by the study's layout, one dask task
per run through the block runner, phases run one after another, the records of the
finished runs collected. Every study (crops, inputs) executes through here, holding the
study's lock from its first file to its report (:func:`study_lock`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from volseg.models import resolve_device
from volseg.runtime import BlockTask, Ledger, RunSummary, connect, open_run, run_task
from volseg.study._config import StudyBase
from volseg.study._plan import StudyRun
from volseg.study._task import RunTask, read_result

if TYPE_CHECKING:
    from distributed import Client

T = TypeVar("T")


@dataclass(frozen=True)
class Execution:
    """Where and how the runs execute (not part of what they compute)."""

    scheduler: str | None = None
    workers: int | None = None
    threads_per_worker: int | None = None
    retries: int = 1
    device: str = "auto"


@dataclass
class StudyResult:
    """How a study ended: the runs planned, their records (finished runs only), the runs
    that failed (key: error), what the runner did, the report's files and the answer."""

    out: Path
    runs: list[StudyRun]
    records: list[dict[str, Any]]
    failed: dict[str, str]
    summary: RunSummary | None
    files: dict[str, Path] = field(default_factory=dict)
    answer: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed and len(self.records) == len(self.runs)


#: Writes a study's report from its result and test store: (files by name, the answer).
Report = Callable[[StudyResult, Path], tuple[dict[str, Path], str]]


def _combine(summaries: list[RunSummary]) -> RunSummary | None:
    if not summaries:
        return None
    stats: dict[str, float] = {}
    for s in summaries:
        for k, v in s.stats_sum.items():
            stats[k] = stats.get(k, 0) + v
    return RunSummary(
        done=sum(s.done for s in summaries),
        skipped=sum(s.skipped for s in summaries),
        failed={k: v for s in summaries for k, v in s.failed.items()},
        seconds=sum(s.seconds for s in summaries),
        voxels_per_s=0.0,
        stats_sum=stats,
        description="study",
        unit="runs",
    )


@contextlib.contextmanager
def study_lock(out: Path, prepare: Callable[[], T]) -> Iterator[T]:
    """Hold the lock of the study folder ``out`` while ``prepare()`` (which writes the test
    store) runs and for the block (the runs and the report): a second study on ``out`` is
    refused from the first file written to the last. A study folder is never replaced:
    each study continues the one stored there (its ledger refuses a changed layout)."""
    with open_run(out, reopen=prepare, resume=True) as prepared:
        yield prepared


def execute_runs(
    config: StudyBase,
    phases: Sequence[Sequence[StudyRun]],
    task: RunTask,
    layout: dict[str, Any],
    *,
    report: Report,
    progress: bool = True,
    overwrite: bool = False,
    client: Client | None = None,
) -> StudyResult:
    """Run every run of ``config`` not yet done, phase after phase, into ``config.out`` (its
    resolved config as ``study.yaml``), then, when any run finished, ``report(result, test
    store)`` (its files and the answer go into the result). Call it
    holding the study's lock (:func:`study_lock`). A run is done when its record is written
    and the ledger marks it; the ledger refuses a changed ``layout`` (naming the keys) unless
    ``overwrite`` resets it. A failing run is retried ``execution.retries`` times, then
    reported while the others finish; a run of a later phase whose input failed fails too.
    """
    out = Path(config.out)
    execution = Execution(
        config.scheduler,
        config.workers,
        config.threads_per_worker,
        config.retries,
        config.recipe_config().device,
    )
    resources = {"GPU": 1} if resolve_device(execution.device).type == "cuda" else None
    runs = [r for phase in phases for r in phase]
    ledger = Ledger(out)
    if overwrite and ledger.exists:
        ledger.reset()
    ledger.start(layout, resume=True)
    config.to_yaml(out / "study.yaml")
    summaries: list[RunSummary] = []
    if any(r.id not in ledger.done() for r in runs):
        handle = None
        if client is None:
            handle = connect(
                execution.scheduler,
                n_workers=execution.workers,
                threads_per_worker=execution.threads_per_worker,
                resources=resources,
            )
            client = handle.client
        try:
            for phase in phases:
                runner = BlockTask(
                    "study",
                    list(phase),
                    task,
                    done=ledger,
                    retries=execution.retries,
                    resources=resources,
                    unit="runs",
                )
                summaries.append(
                    run_task(runner, client, progress=progress, max_in_flight=max(1, len(phase)))
                )
        finally:
            if handle is not None:
                handle.close()
    done = ledger.done()
    by_id = {r.id: r for r in runs}
    summary = _combine(summaries)
    failed = {by_id[i].key: e for i, e in (summary.failed if summary else {}).items()}
    records = [rec for r in runs if r.id in done and (rec := read_result(r)) is not None]
    result = StudyResult(out, runs, records, failed, summary)
    if records:
        result.files, result.answer = report(result, Path(task.test_store))
    return result
