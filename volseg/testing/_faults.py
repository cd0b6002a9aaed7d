"""Faults injected into real runs: the n-th zarr write to a key truncated, dropped,
corrupted, refused with ENOSPC or delayed, or its process killed (the worker, or the
whole run), with a log of every write the faults watch.

A block function opens its output from a path, inside a dask worker process, so the
faults cannot wrap one store object: they wrap ``zarr.storage.LocalStore.set`` in every
process of the run, and all of those share one plan in a folder (``plan.json``, the write
counts and ``writes.jsonl``; the n-th write is counted over every process, under a file
lock). The plan reaches

* this process: inside :func:`inject_faults`;
* the workers of a cluster the test holds a client of (``inject_faults(..., client=c)``):
  a worker plugin, which the scheduler also gives to workers that replace killed ones;
* the workers of a run started as a command (``volseg segment`` in a subprocess): the
  environment :attr:`Faults.env` (a dask worker preload of this module and the folder).

Keys are matched as paths relative to the plan's root (usually the output store), with
:func:`fnmatch.fnmatchcase` (``*`` also matches ``/``); writes outside the root pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import fnmatch
import hashlib
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from distributed.diagnostics.plugin import WorkerPlugin
from zarr.core.buffer import Buffer, default_buffer_prototype
from zarr.storage import LocalStore

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["Fault", "FaultWrite", "Faults", "inject_faults"]

#: What a fault does to the write it hits. ``record`` does nothing (the write is logged);
#: ``truncate`` stores the first half of the bytes, ``corrupt`` stores them with 16 bytes
#: flipped, ``drop`` stores nothing (each reports success, as a lying disk would);
#: ``enospc`` raises ``OSError(ENOSPC)`` before a byte is stored (zarr's LocalStore writes
#: a temp file and renames it, so a real full disk leaves the same); ``delay`` sleeps
#: ``seconds`` first; ``kill`` SIGKILLs the writing process (a worker) before the write;
#: ``crash-after`` writes, sleeps ``seconds``, then SIGKILLs the writer's whole process
#: group (the run, driver included: start it with ``start_new_session=True``).
Action = Literal["record", "truncate", "corrupt", "drop", "enospc", "delay", "kill", "crash-after"]
ENV = "VOLSEG_FAULTS"
_PLUGIN = "volseg-faults"


@dataclass(frozen=True)
class Fault:
    """One rule: ``action`` on the ``nth`` write (1-based, counted over every process; a
    tuple: each of those; None: every one) whose key matches ``pattern``.

    A worker killed after ``n`` blocks of one chunk each dies on the ``n + 1``-th block
    write; a poison block kills every worker that writes it (``nth=None`` on its key).

    Examples
    --------
    >>> labels = "labels/segmentation/0/c/*"
    >>> Fault("kill", labels, nth=(3, 6, 9))  # a worker dies as it writes those blocks
    Fault(action='kill', pattern='labels/segmentation/0/c/*', nth=(3, 6, 9), seconds=0.0)
    """

    action: Action
    pattern: str
    nth: int | tuple[int, ...] | None = 1
    seconds: float = 0.0

    def hits(self, count: int) -> bool:
        if self.nth is None:
            return True
        return count in ((self.nth,) if isinstance(self.nth, int) else self.nth)


@dataclass(frozen=True)
class FaultWrite:
    """One watched write, as logged: which, where, by whom, what was done, the bytes'
    sha256 (of what zarr asked to store) and when."""

    key: str
    pid: int
    action: str  #: the fault applied, or "none"
    sha256: str
    time: float


class Faults:
    """The plan shared by every process of a run (see the module docstring)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder).resolve()
        self.folder.mkdir(parents=True, exist_ok=True)

    def plan(self, root: str | os.PathLike[str], *faults: Fault) -> None:
        """Watch the writes under ``root`` and apply ``faults``; counts and log restart."""
        plan = {
            "root": str(Path(root).resolve()),
            "faults": [asdict(f) for f in faults],
            "protected_pgid": os.getpgrp(),  # never crash the process group of the test
        }
        with _locked(self.folder):
            (self.folder / "counts.json").unlink(missing_ok=True)
            (self.folder / "writes.jsonl").unlink(missing_ok=True)
            (self.folder / "plan.json").write_text(json.dumps(plan))

    def clear(self) -> None:
        """No plan: every write passes, unwatched."""
        with _locked(self.folder):
            (self.folder / "plan.json").unlink(missing_ok=True)

    def writes(self, pattern: str = "*") -> list[FaultWrite]:
        """The watched writes since :meth:`plan` whose key matches ``pattern``, in order."""
        log = self.folder / "writes.jsonl"
        lines = log.read_text().splitlines() if log.exists() else []
        records = (FaultWrite(**json.loads(line)) for line in lines)
        return [w for w in records if fnmatch.fnmatchcase(w.key, pattern)]

    @property
    def env(self) -> dict[str, str]:
        """Environment for a run started as a command: its dask workers preload this
        module, which applies the plan in this folder."""
        return {ENV: str(self.folder), "DASK_DISTRIBUTED__WORKER__PRELOAD": f"[{__name__!r}]"}


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with open(folder / "lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _decide(folder: Path, path: Path, data: bytes) -> Fault | None:
    """The fault for a write of ``data`` to ``path`` (None: none); a watched write is
    counted and logged."""
    with _locked(folder):
        try:
            plan = json.loads((folder / "plan.json").read_text())
        except FileNotFoundError:
            return None
        key = os.path.relpath(path, plan["root"])
        rules = [Fault(**{**r, "nth": _nth(r["nth"])}) for r in plan["faults"]]
        matching = [i for i, r in enumerate(rules) if fnmatch.fnmatchcase(key, r.pattern)]
        if key.startswith("..") or not matching:
            return None
        counts_file = folder / "counts.json"
        counts = json.loads(counts_file.read_text()) if counts_file.exists() else {}
        chosen = None
        for i in matching:
            counts[str(i)] = counts.get(str(i), 0) + 1
            rule = rules[i]
            if chosen is None and rule.action != "record" and rule.hits(counts[str(i)]):
                chosen = rule
        counts_file.write_text(json.dumps(counts))
        protected = os.getpgrp() == plan["protected_pgid"]
        if chosen is not None and chosen.action == "crash-after" and protected:
            raise RuntimeError("crash-after would kill the test: run it in a new session")
        record = FaultWrite(
            key=key,
            pid=os.getpid(),
            action=chosen.action if chosen else "none",
            sha256=hashlib.sha256(data).hexdigest(),
            time=time.time(),
        )
        with open(folder / "writes.jsonl", "a") as log:
            log.write(json.dumps(asdict(record)) + "\n")
        return chosen


def _nth(value: Any) -> int | tuple[int, ...] | None:
    return tuple(value) if isinstance(value, list) else value


_FOLDER: Path | None = None
_ORIGINAL_SET = LocalStore.set


async def _faulty_set(self: LocalStore, key: str, value: Buffer) -> None:
    folder = _FOLDER
    if folder is None:
        return await _ORIGINAL_SET(self, key, value)
    data = value.to_bytes()
    fault = _decide(folder, Path(self.root) / key, data)
    action = fault.action if fault is not None else "record"
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(Path(self.root) / key))
    if action == "drop":
        return None
    if action == "delay" and fault is not None:
        await asyncio.sleep(fault.seconds)
    if action == "truncate":
        data = data[: len(data) // 2]
    elif action == "corrupt":
        flipped = bytearray(data)
        for i in range(len(data) // 2, min(len(data), len(data) // 2 + 16)):
            flipped[i] ^= 0xFF
        data = bytes(flipped)
    if action in ("truncate", "corrupt"):
        value = default_buffer_prototype().buffer.from_bytes(data)
    await _ORIGINAL_SET(self, key, value)
    if action == "crash-after" and fault is not None:
        time.sleep(fault.seconds)
        os.killpg(os.getpgrp(), signal.SIGKILL)
    return None


def install(folder: str | os.PathLike[str] | None) -> None:
    """Apply the plan in ``folder`` to every zarr LocalStore write of this process (None:
    stop). Idempotent."""
    global _FOLDER
    _FOLDER = None if folder is None else Path(folder)
    LocalStore.set = _ORIGINAL_SET if folder is None else _faulty_set  # type: ignore[method-assign]


class FaultPlugin(WorkerPlugin):
    """Installs the plan of ``folder`` in each worker process (and its replacements)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def setup(self, worker: Any) -> None:
        install(self.folder)

    def teardown(self, worker: Any) -> None:
        install(None)


def dask_setup(worker: Any) -> None:
    """dask worker preload hook (see :attr:`Faults.env`)."""
    install(os.environ.get(ENV) or None)


@contextlib.contextmanager
def inject_faults(
    folder: str | os.PathLike[str], *, client: Client | None = None
) -> Iterator[Faults]:
    """Faults in this process and, given ``client``, in every worker of its cluster.

    Yields the :class:`Faults` of ``folder`` (set a plan with :meth:`Faults.plan`; one the
    folder holds already applies at once). On exit the workers and this process write
    plainly again.

    Examples
    --------
    >>> with inject_faults(tmp_path / "faults", client=client) as faults:  # doctest: +SKIP
    ...     faults.plan(out, Fault("enospc", "labels/segmentation/0/c/3/*"))
    ...     result = segment(config, client=client)
    ...     [w.action for w in faults.writes()]
    """
    faults = Faults(folder)
    install(faults.folder)
    try:
        if client is not None:
            client.register_plugin(FaultPlugin(str(faults.folder)), name=_PLUGIN)
        try:
            yield faults
        finally:
            if client is not None:
                client.unregister_worker_plugin(_PLUGIN)
    finally:
        install(None)
