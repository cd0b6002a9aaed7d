"""The run lock: one run at a time writes an output store."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

from volseg.errors import RunLockedError
from volseg.runtime._state import read_json, run_dir, write_json_atomic

_LOCK = "lock.json"


def _process_start(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def _describe(holder: dict[str, Any]) -> str:
    return (
        f"host {holder.get('host', '?')}, pid {holder.get('pid', '?')}, "
        f"started {holder.get('started', '?')}"
    )


class RunLock:
    """Context manager holding the run lock of the output store at ``store_path``.

    The lock is the file ``<store>/.volseg-run/lock.json`` naming its holder (host, pid,
    start time). It is created with an atomic hard link, so of two runs starting together
    exactly one gets it; the other gets :class:`~volseg.errors.RunLockedError`.

    A lock is *stale* when its holder ran on this host and that process is gone (its pid is
    dead, or now belongs to a process started later). A stale lock is taken over silently.
    A lock held from another host cannot be checked from here: the error names the holder,
    and the fix is to wait for it or, if that process is gone, delete the lock file.

    A run that creates its output takes the lock before it does, with
    :func:`~volseg.runtime.open_run`, and holds it to its end.

    Examples
    --------
    >>> with RunLock("out.zarr"):  # doctest: +SKIP
    ...     run_task(BlockTask("segment", grid, fn, done=Ledger("out.zarr")), client)
    """

    def __init__(self, store_path: str | os.PathLike[str]) -> None:
        self.store_path = Path(store_path)
        self.path = run_dir(self.store_path) / _LOCK
        self._token: str | None = None

    @property
    def held(self) -> bool:
        return self._token is not None

    def holder(self) -> dict[str, Any] | None:
        """The record of the current holder, or None when unlocked."""
        try:
            return dict(read_json(self.path))
        except FileNotFoundError:
            return None
        except ValueError:  # a partial or foreign file: treat as held by an unknown run
            return {"host": "?", "pid": "?", "started": "?"}

    def is_stale(self, holder: dict[str, Any]) -> bool:
        """Whether ``holder`` is a process of this host that no longer runs."""
        if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
            return False
        started = _process_start(holder["pid"])
        if started is None:
            return True
        created = holder.get("process_start")
        # A live pid started after the lock was written is another process (pid reuse).
        return isinstance(created, int | float) and abs(started - created) > 1.0

    def acquire(self) -> RunLock:
        """Take the lock (taking over a stale one) or raise RunLockedError."""
        if self.held:
            return self
        token = uuid.uuid4().hex
        record = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "process_start": _process_start(os.getpid()),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "token": token,
        }
        tmp = self.path.with_name(f".lock.{token}.tmp")
        write_json_atomic(tmp, record)
        try:
            for _ in range(3):
                try:
                    os.link(tmp, self.path)  # atomic create-if-absent, with the content
                except FileExistsError:
                    holder = self.holder()
                    if holder is None:
                        continue  # released in between: try again
                    if not self.is_stale(holder):
                        raise self._locked(holder) from None
                    self._take_over(holder)
                    continue
                self._token = token
                return self
        finally:
            tmp.unlink(missing_ok=True)
        raise RunLockedError(
            f"could not take the run lock {self.path}: other runs keep taking it; "
            "make sure only one run writes this output"
        )

    def _locked(self, holder: dict[str, Any]) -> RunLockedError:
        return RunLockedError(
            f"{self.store_path} is being written by another volseg run "
            f"({_describe(holder)}); wait for it to finish, or, if that "
            f"process is gone, delete {self.path} and run again"
        )

    def check_free(self) -> None:
        """Raise RunLockedError when another live run holds the lock. Reads only: a stale
        lock is left for :meth:`acquire` to take over, and a free one is not taken."""
        if self.held:
            return
        holder = self.holder()
        if holder is not None and not self.is_stale(holder):
            raise self._locked(holder)

    def verify(self) -> None:
        """Raise RunLockedError unless this object still holds the lock (its file was not
        deleted or replaced while the run went on)."""
        holder = self.holder()
        if self._token is None or holder is None or holder.get("token") != self._token:
            raise RunLockedError(
                f"the run lock {self.path} is no longer this run's: it was deleted or taken "
                f"over while the run wrote {self.store_path}; nothing may delete "
                f"{self.path.parent.name} of a store while a run holds it"
            )

    def ensure_free(self) -> None:
        """Raise RunLockedError when another live run holds the lock (a stale lock is taken
        over and given back): call it before replacing an output another run may write."""
        if not self.held:
            self.acquire()
            self.release()

    def _take_over(self, stale: dict[str, Any]) -> None:
        # Move the stale lock aside under a unique name, then check we moved the one we
        # judged stale; if another run took the lock in between, put its lock back.
        aside = self.path.with_name(f".lock.{uuid.uuid4().hex}.stale")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        try:
            moved = read_json(aside)
        except (OSError, ValueError):
            moved = {}
        if moved.get("token") != stale.get("token"):
            with contextlib.suppress(FileExistsError):
                os.link(aside, self.path)
        aside.unlink(missing_ok=True)

    def release(self) -> None:
        """Give the lock back (only if this object still holds it)."""
        if self._token is None:
            return
        holder = self.holder()
        if holder is not None and holder.get("token") == self._token:
            self.path.unlink(missing_ok=True)
        self._token = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"RunLock({str(self.store_path)!r}, held={self.held})"
