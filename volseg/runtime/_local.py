"""Run a list of independent dask tasks on local threads, with a live progress bar."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import dask
from dask.callbacks import Callback
from dask.delayed import Delayed
from rich.progress import Progress

from volseg.runtime._progress import count_bar


def default_workers() -> int:
    """Threads to use: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class _RichCallback(Callback):
    def __init__(self, keys: set[Any], progress: Progress, task_id: Any) -> None:
        super().__init__()
        self._keys = keys
        self._progress = progress
        self._task_id = task_id

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        if key in self._keys:
            self._progress.advance(self._task_id)


def run_tasks(
    tasks: Sequence[Delayed],
    *,
    description: str,
    num_workers: int | None = None,
    progress: bool = True,
) -> tuple[list[Any], float]:
    """Compute independent delayed ``tasks`` on a thread pool; return results and seconds.

    Threads suit volseg's local jobs: decoding, numba kernels and blosc release the GIL, and
    memory stays bounded by ``num_workers`` tasks in flight, whatever the number of tasks.
    """
    workers = num_workers or default_workers()
    keys = {t.key for t in tasks}
    start = time.perf_counter()
    with count_bar(enabled=progress) as bar:
        task_id = bar.add_task(description, total=len(tasks))
        with _RichCallback(keys, bar, task_id):
            results = dask.compute(*tasks, scheduler="threads", num_workers=workers)
    sys.stderr.flush()
    return list(results), time.perf_counter() - start
