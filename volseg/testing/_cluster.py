"""A dask cluster of separate processes (``dask scheduler`` + ``dask worker``) for tests."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from distributed import Client


def dask_cli() -> str | None:
    """The ``dask`` command of this interpreter's environment (else on PATH), or None."""
    return shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` every 0.1 s; raise TimeoutError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _address(scheduler_file: Path) -> str | None:
    """The address in a scheduler file; None while it is missing or half written."""
    try:
        return str(json.loads(scheduler_file.read_text())["address"])
    except (OSError, ValueError, KeyError):
        return None


@dataclass
class ExternalCluster:
    """A running scheduler and its worker processes (``workers[i].pid`` is the worker)."""

    scheduler_file: Path
    address: str
    workers: list[subprocess.Popen[bytes]]
    log: Path


@contextlib.contextmanager
def external_cluster(
    folder: str | os.PathLike[str],
    *,
    n_workers: int = 2,
    nthreads: int = 1,
    pythonpath: Sequence[str | os.PathLike[str]] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> Iterator[ExternalCluster]:
    """Start ``dask scheduler`` and ``n_workers`` × ``dask worker --no-nanny`` on localhost.

    Each is its own process (so a test can ``kill -9`` one worker: without a nanny nothing
    restarts it); their output goes to ``folder/cluster.log``. ``pythonpath`` entries are
    prepended to ``PYTHONPATH`` (for modules the workers must import by name), ``env`` is
    added to the environment; ``DASK_SCHEDULER_ADDRESS`` is never inherited. On exit the
    workers are stopped first, then the scheduler. Workers register asynchronously: wait
    for them with ``Client.wait_for_workers``.
    """
    dask = dask_cli()
    if dask is None:
        raise FileNotFoundError("the dask command-line tool is not installed")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    extra = os.pathsep.join(p for p in (*map(str, pythonpath), os.environ.get("PYTHONPATH")) if p)
    environ = {**os.environ, **(env or {})}
    if extra:
        environ["PYTHONPATH"] = extra
    environ.pop("DASK_SCHEDULER_ADDRESS", None)
    sched_file = folder / "scheduler.json"
    log_path = folder / "cluster.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed in finally
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([dask, *args], env=environ, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    try:
        start(
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(sched_file),
        )
        wait_until(lambda: _address(sched_file) is not None, timeout, "the scheduler file")
        workers = [
            start(
                "worker",
                "--scheduler-file",
                str(sched_file),
                "--nthreads",
                str(nthreads),
                "--nworkers",
                "1",
                "--no-nanny",
                "--host",
                "127.0.0.1",
                "--no-dashboard",
                "--local-directory",
                str(folder / f"worker{i}"),
            )
            for i in range(n_workers)
        ]
        yield ExternalCluster(sched_file, str(_address(sched_file)), workers, log_path)
    finally:
        # Workers first, then the scheduler: a worker whose scheduler vanishes while it
        # shuts down can hang in its close.
        for group in (procs[1:], procs[:1]):
            for proc in group:
                if proc.poll() is None:
                    proc.terminate()
            for proc in group:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        log.close()


def _executing(dask_worker: Any) -> dict[str, float]:
    now = time.time()
    return {str(ts.key): now - (ts.start_time or now) for ts in list(dask_worker.state.executing)}


def executing_tasks(
    client: Client, workers: Sequence[str] | None = None
) -> dict[str, dict[str, float]]:
    """The tasks each worker (of ``workers``, default all) is executing right now, as the
    worker itself sees it: ``{worker address: {task key: seconds since it started}}``.

    A worker answers from its event loop, so the answer is current when it is sent but
    may come late from a worker whose loop is busy (e.g. importing a task's modules): ask
    one worker at a time where freshness matters.
    """
    return client.run(_executing, workers=list(workers) if workers is not None else None)
