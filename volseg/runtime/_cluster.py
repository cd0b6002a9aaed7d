"""Connecting to dask.distributed: an existing scheduler, or a local cluster for this machine."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import dask

from volseg.errors import ClusterConnectionError, ConfigError
from volseg.runtime._local import default_workers
from volseg.runtime._slurm import exit_on_sigterm, is_slurm_config, slurm_cluster

if TYPE_CHECKING:  # distributed is imported when a cluster is made: `import volseg` stays fast
    from distributed import Client, SpecCluster

#: Seconds to wait for an existing scheduler before giving up.
CONNECT_TIMEOUT = 30


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The scheduler to connect to: ``scheduler``, else ``DASK_SCHEDULER_ADDRESS``, else None.

    The dask config value ``scheduler-address`` (which ``DASK_SCHEDULER_ADDRESS`` sets) is
    honoured too.
    """
    if scheduler:
        return scheduler
    env = os.environ.get("DASK_SCHEDULER_ADDRESS")
    if env:
        return env
    configured = dask.config.get("scheduler-address", None)
    return str(configured) if configured else None


def local_cluster_size(
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    *,
    gpu: bool = False,
) -> tuple[int, int]:
    """``(n_workers, threads_per_worker)`` for a local cluster on this machine.

    The rule: ``threads_per_worker`` defaults to 1 (a block is large; numba, blosc and torch
    parallelise inside it, and one model lives per worker process); ``n_workers`` defaults
    to ``cores // threads_per_worker`` (at least 1), where cores are those this process may
    run on. With a GPU, ``n_workers`` defaults to 1: a local cluster cannot pin one GPU per
    worker process, so for several GPUs start one ``dask worker --resources GPU=1`` per GPU
    (each with its own ``CUDA_VISIBLE_DEVICES``) and connect to their scheduler.
    """
    cores = default_workers()
    threads = threads_per_worker or 1
    if threads < 1:
        raise ConfigError(f"threads_per_worker must be at least 1, got {threads}")
    workers = n_workers or (1 if gpu else max(1, cores // threads))
    if workers < 1:
        raise ConfigError(f"n_workers must be at least 1, got {workers}")
    return workers, threads


_TRIM = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """No log records of logger ``name`` and its children while the block runs."""
    loggers = [logging.getLogger(name)]
    loggers += [
        logging.getLogger(child)
        for child in list(logging.root.manager.loggerDict)
        if child.startswith(f"{name}.")
    ]
    before = [lg.disabled for lg in loggers]
    for lg in loggers:
        lg.disabled = True
    try:
        yield
    finally:
        for lg, was in zip(loggers, before, strict=True):
            lg.disabled = was


class ClusterHandle:
    """A dask client and, when volseg started it, the cluster behind it (a local cluster,
    or the SLURM worker jobs of a SLURM config).

    Use it as a context manager: it yields the :class:`distributed.Client` and on exit
    closes the client, and the cluster if volseg created it (an existing cluster is left
    running). ``owned`` says which.
    """

    def __init__(
        self,
        client: Client,
        cluster: SpecCluster | None,
        *,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.cluster = cluster
        self._on_close = on_close

    @property
    def owned(self) -> bool:
        """True when volseg started the cluster (and will close it)."""
        return self.cluster is not None

    @property
    def address(self) -> str:
        return str(self.client.scheduler_info()["address"])

    def close(self) -> None:
        # A client whose scheduler is gone logs its cancelled reconnection as an error
        # with a traceback; the run has reported the loss in one line already.
        lost = self.client.status not in ("running", "closed")
        with _quiet("distributed") if lost else contextlib.nullcontext():
            try:
                self.client.close()
            finally:
                try:
                    if self.cluster is not None:
                        self.cluster.close()
                finally:
                    if self._on_close is not None:
                        self._on_close()

    def __enter__(self) -> Client:
        return self.client

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        kind = type(self.cluster).__name__ if self.owned else "existing cluster"
        return f"ClusterHandle({self.address!r}, {kind})"


def connect(
    scheduler: str | None = None,
    *,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: str | float | None = "auto",
    resources: Mapping[str, float] | None = None,
    processes: bool = True,
    dashboard_address: str | None = None,
    silence_logs: int = logging.CRITICAL,
    spare_threads: int = 0,
) -> ClusterHandle:
    """Connect to the cluster a run executes on.

    Parameters
    ----------
    scheduler
        Address of an existing scheduler (``tcp://host:8786``), the path of its scheduler
        file (JSON, as written by ``dask scheduler --scheduler-file``), or the path of a
        SLURM config (``.yaml``, see :func:`slurm_cluster`: the workers are SLURM jobs this
        run submits and cancels when it ends). ``None`` uses ``DASK_SCHEDULER_ADDRESS`` when
        set, else starts a :class:`~distributed.LocalCluster`.
    n_workers, threads_per_worker
        Size of a local cluster; defaults from :func:`local_cluster_size`
        (``cores // threads_per_worker`` workers of 1 thread; 1 worker with a GPU).
    memory_limit
        Per-worker memory limit of a local cluster; ``"auto"`` splits the machine's memory
        evenly between the workers.
    resources
        Abstract resources of each local worker, e.g. ``{"GPU": 1}``. Submit GPU tasks with
        the same resources (``BlockTask(..., resources={"GPU": 1})``) so a worker runs at
        most one at a time. On an existing cluster, start the workers with
        ``dask worker --resources GPU=1``.
    processes
        Worker processes (the default: the GIL and model state stay per worker) or threads
        in this process (debugging).
    dashboard_address
        Where a local cluster serves its dashboard (``":8787"``, ``":0"`` for any free
        port); ``None`` serves none.
    silence_logs
        Log level below which a local cluster's logs are dropped. Critical by default: a
        task that fails is reported by the run (its block and error, once), not by its
        worker's log with a traceback.
    spare_threads
        Extra dask threads per local worker beyond ``threads_per_worker``, for tasks that
        read or write while others compute (``volseg segment`` prefetches a block so);
        the worker count is still sized by ``threads_per_worker``.

    Returns
    -------
    ClusterHandle
        A context manager yielding the client.

    Raises
    ------
    ClusterConnectionError
        The scheduler cannot be reached (the message names it).
    ConfigError
        Local-cluster sizes or options given together with an existing scheduler, or bad
        sizes.

    Examples
    --------
    >>> with connect(n_workers=2, threads_per_worker=1) as client:  # doctest: +SKIP
    ...     summary = run_task(BlockTask("segment", grid, fn, done=ledger), client)
    """
    from distributed import Client, LocalCluster

    address = scheduler_address(scheduler)
    if address is not None:
        if n_workers is not None or threads_per_worker is not None:
            where = (
                "set jobs or adapt (and cores) in the SLURM config"
                if is_slurm_config(address)
                else "size an existing cluster where its workers start"
            )
            raise ConfigError(
                f"n_workers/threads_per_worker size a local cluster, but a scheduler "
                f"({address}) was given; {where}"
            )
        if is_slurm_config(address):
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Port .* is already in use")
                jobs = slurm_cluster(address, submit=True, resources=resources)
            undo = exit_on_sigterm()  # a terminated run cancels its jobs too
            try:
                return ClusterHandle(Client(jobs), jobs, on_close=undo)
            except BaseException:
                jobs.close()
                undo()
                raise
        try:
            if address.endswith(".json") or Path(address).is_file():
                client = Client(scheduler_file=address, timeout=CONNECT_TIMEOUT)
            else:
                client = Client(address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise ClusterConnectionError(
                f"cannot reach the dask scheduler at {address}: {exc}; check that it runs "
                "and is reachable from here, or unset DASK_SCHEDULER_ADDRESS to run locally"
            ) from exc
        return ClusterHandle(client, None)

    workers, threads = local_cluster_size(
        n_workers, threads_per_worker, gpu=bool(resources and "GPU" in resources)
    )
    # dask sets MALLOC_TRIM_THRESHOLD_ in worker processes; setting it switches off glibc's
    # dynamic mmap threshold, so every large array (a network's activations) is mmapped,
    # page-faulted and unmapped again: ~10 % of segment's time. volseg's workers keep it.
    with dask.config.set({_TRIM: None}), warnings.catch_warnings():
        # Its scheduler's HTTP server takes port 8787 even without a dashboard; when another
        # cluster has it, it moves to a free port with a warning that is not the user's.
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=threads + spare_threads,
            memory_limit=memory_limit,
            processes=processes,
            resources=dict(resources) if resources else None,
            dashboard_address=dashboard_address,
            silence_logs=silence_logs,
        )
    try:
        client = Client(cluster)
    except BaseException:
        cluster.close()
        raise
    return ClusterHandle(client, cluster)


@contextlib.contextmanager
def client_or_connect(
    client: Client | None, scheduler: str | None = None, *, n_workers: int | None = None
) -> Iterator[Client]:
    """``client`` as it is; else :func:`connect` (``scheduler``, ``DASK_SCHEDULER_ADDRESS``,
    or a local cluster of ``n_workers``) for the duration of the block. Enter it only after
    the inputs are checked, so that a bad input never waits for a cluster to start."""
    if client is not None:
        yield client
        return
    with connect(scheduler, n_workers=n_workers) as owned:
        yield owned
