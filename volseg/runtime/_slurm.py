"""SLURM clusters for volseg runs, through dask-jobqueue (the ``slurm`` extra)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from volseg.errors import ConfigError, InputNotFoundError

if TYPE_CHECKING:
    from dask_jobqueue import SLURMCluster

#: The documented example configuration (shipped with the package).
SLURM_EXAMPLE = Path(__file__).with_name("slurm_example.yaml")

# Keys passed to dask_jobqueue.SLURMCluster unchanged.
_PASSTHROUGH = frozenset(
    {
        "cores",
        "processes",
        "memory",
        "walltime",
        "account",
        "job_name",
        "job_extra_directives",
        "job_script_prologue",
        "job_directives_skip",
        "job_cpu",
        "job_mem",
        "local_directory",
        "log_directory",
        "interface",
        "scheduler_options",
        "worker_extra_args",
        "death_timeout",
        "python",
        "shebang",
        "nanny",
        "protocol",
    }
)
# Keys volseg interprets itself.
_OWN = frozenset({"partition", "queue", "gpus", "gres", "jobs", "adapt"})


def is_slurm_config(scheduler: str) -> bool:
    """True when a ``--scheduler`` value names a SLURM config (a ``.yaml``/``.yml`` file)
    rather than a scheduler address or scheduler file (JSON)."""
    return scheduler.lower().endswith((".yaml", ".yml"))


def exit_on_sigterm() -> Callable[[], None]:
    """Make SIGTERM (``kill``, ``scancel`` or the walltime of the job volseg itself runs
    in) raise ``SystemExit(143)`` in the main thread, so that a run unwinds and cancels its
    worker jobs instead of leaving them to their ``death_timeout``; returns the undo. Does
    nothing off the main thread or where a SIGTERM handler is set already."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        return lambda: None

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    def undo() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    signal.signal(signal.SIGTERM, terminate)
    return undo


def _load(config: Mapping[str, Any] | str | os.PathLike[str]) -> dict[str, Any]:
    if isinstance(config, Mapping):
        return dict(config)
    path = Path(config)
    if not path.is_file():
        raise InputNotFoundError(
            f"SLURM config {path} does not exist; start from the example {SLURM_EXAMPLE}"
        )
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"SLURM config {path} must be a YAML mapping of options")
    return data


def slurm_options(config: Mapping[str, Any] | str | os.PathLike[str]) -> dict[str, Any]:
    """The :class:`dask_jobqueue.SLURMCluster` keyword arguments for a volseg SLURM config.

    ``partition`` (or ``queue``) becomes ``#SBATCH -p``; ``gpus: n`` adds
    ``#SBATCH --gres=gpu:n`` (or the explicit ``gres``) and ``--resources GPU=n`` to the
    worker command, so tasks submitted with ``resources={"GPU": 1}`` land on GPU workers.
    ``jobs`` and ``adapt`` are not cluster options (see :func:`slurm_cluster`).

    Raises
    ------
    ConfigError
        Unknown keys (listing the known ones), a missing ``cores``/``memory``, or ``gpus``
        with more than one worker process per job.
    """
    cfg = _load(config)
    unknown = sorted(set(cfg) - _PASSTHROUGH - _OWN)
    if unknown:
        raise ConfigError(
            f"unknown SLURM option(s) {', '.join(unknown)}; known options are "
            f"{', '.join(sorted(_PASSTHROUGH | _OWN))} (see {SLURM_EXAMPLE.name})"
        )
    missing = [k for k in ("cores", "memory") if cfg.get(k) is None]
    if missing:
        raise ConfigError(f"the SLURM config needs {' and '.join(missing)} (per job)")
    opts = {k: v for k, v in cfg.items() if k in _PASSTHROUGH and v is not None}
    queue = cfg.get("partition") or cfg.get("queue")
    if queue:
        opts["queue"] = str(queue)
    extra = [str(d) for d in opts.pop("job_extra_directives", None) or []]
    worker_args = [str(a) for a in opts.pop("worker_extra_args", None) or []]
    gpus = int(cfg.get("gpus") or 0)
    if gpus < 0:
        raise ConfigError(f"gpus must be 0 or more, got {gpus}")
    if gpus:
        if int(cfg.get("processes") or 1) != 1:
            raise ConfigError(
                "with gpus, use processes: 1 (one worker process owns the job's GPUs; "
                "request more jobs for more GPUs)"
            )
        extra.append(f"--gres={cfg.get('gres') or f'gpu:{gpus}'}")
        worker_args += ["--resources", f"GPU={gpus}"]
    elif cfg.get("gres"):
        extra.append(f"--gres={cfg['gres']}")
    opts["job_extra_directives"] = extra
    opts["worker_extra_args"] = worker_args
    opts.setdefault("processes", 1)
    opts.setdefault("scheduler_options", {"dashboard_address": ":0"})
    return opts


def slurm_cluster(
    config: Mapping[str, Any] | str | os.PathLike[str],
    *,
    submit: bool = False,
    resources: Mapping[str, float] | None = None,
) -> SLURMCluster:
    """A dask-jobqueue :class:`~dask_jobqueue.SLURMCluster` from a volseg SLURM config.

    Parameters
    ----------
    config
        A dict, or the path of a YAML file, with the keys of
        ``volseg/runtime/slurm_example.yaml`` (:data:`SLURM_EXAMPLE`).
    submit
        Request the jobs the config asks for (``adapt`` bounds, else ``jobs``). False
        builds the cluster (its scheduler runs here) and submits nothing: inspect
        ``cluster.job_script()``, then ``cluster.scale(jobs=n)`` yourself.
    resources
        What each task of the run will ask a worker for; ``{"GPU": ...}`` needs ``gpus``
        in the config (else no worker could ever run a task).

    Returns
    -------
    SLURMCluster
        Close it when done (it is a context manager). Connect with
        ``connect(cluster.scheduler_address)``; submit GPU work with
        ``resources={"GPU": 1}``.

    Raises
    ------
    ConfigError
        dask-jobqueue is not installed, or the config is invalid.

    Notes
    -----
    :func:`volseg.runtime.connect` calls this for a ``--scheduler`` that names a YAML file:
    the run submits the worker jobs, and closing it cancels them (``scancel``), also when
    the run fails. Adaptive bounds let the cluster grow while blocks are pending and shrink
    as workers idle.
    """
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError as exc:
        raise ConfigError("SLURM clusters need dask-jobqueue: pip install 'volseg[slurm]'") from exc
    cfg = _load(config)
    if submit and resources and "GPU" in resources and not cfg.get("gpus"):
        raise ConfigError(
            "this run needs GPU workers (its device is cuda), but the SLURM config asks for "
            "no GPUs: set gpus: 1 (and a GPU partition), or run with --device cpu"
        )
    cluster = SLURMCluster(**slurm_options(cfg))
    if submit:
        adapt = cfg.get("adapt")
        if adapt:
            cluster.adapt(**dict(adapt))
        elif cfg.get("jobs"):
            cluster.scale(jobs=int(cfg["jobs"]))
    return cluster
