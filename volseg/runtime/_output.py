"""The output of a run: whether it may be replaced, and its lock held from its creation
to the end of the run."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import TypeVar

from volseg.errors import StoreExistsError
from volseg.runtime._ledger import Ledger
from volseg.runtime._lock import RunLock
from volseg.runtime._state import RUN_DIR

T = TypeVar("T")


def is_volseg_store(path: Path) -> bool:
    """Whether ``path`` is a store volseg wrote (its ``zarr.json`` has a volseg record)."""
    meta = path / "zarr.json"
    if not meta.is_file():
        return False
    try:
        attributes = json.loads(meta.read_text()).get("attributes", {})
    except (OSError, ValueError):
        return False
    return "volseg" in attributes


def check_output(path: Path, *, overwrite: bool, keep: Collection[str] = ()) -> None:
    """Raise unless a new store may be made at ``path``; reads only, deletes nothing.

    A path that does not exist, an empty folder and a folder holding only entries named in
    ``keep`` are free. Anything else needs ``overwrite``, and must be a volseg store: other
    data is never replaced.

    Raises
    ------
    StoreExistsError
        ``path`` holds something and ``overwrite`` is false, or it holds something that is
        not a volseg store (the message says how to go on).
    """
    if not path.exists():
        return
    if path.is_dir() and all(p.name in keep for p in path.iterdir()):
        return
    if not overwrite:
        raise StoreExistsError(
            f"{path} exists already; pass --overwrite (overwrite=True) to replace it, "
            "or choose another output path"
        )
    if not is_volseg_store(path):
        raise StoreExistsError(
            f"refusing to overwrite {path}: it is not a volseg store, and deleting it could "
            "lose data; remove it yourself or choose another output path"
        )


def _remove_if_empty(path: Path) -> None:
    for folder in (path / RUN_DIR, path):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only an empty folder goes


@contextlib.contextmanager
def open_run(
    out: str | os.PathLike[str],
    *,
    create: Callable[[], T] | None = None,
    reopen: Callable[[], T] | None = None,
    resume: bool = False,
    overwrite: bool = False,
) -> Iterator[T]:
    """Hold the run lock of the output store ``out`` from its creation to the end of the run.

    1. A live run holding the lock is refused, and ``out`` checked to be free or
       replaceable (:func:`check_output`, with ``overwrite``), before anything is written.
    2. The lock is taken (:class:`RunLock`, in ``out/.volseg-run``): of two runs starting
       together exactly one gets it.
    3. Holding it, a new run resets the done ledger of an earlier run and calls
       ``create()``, which makes the store (replacing what is there but the run-state
       folder, e.g. with :func:`volseg.io.derived_store`); a resumed run calls
       ``reopen()``, which opens the store as it is.
    4. The store is yielded, the lock still held; it is released when the block ends.

    So no second run can slip in between the check, the creation and the run, and
    ``--overwrite`` never deletes an output another run is writing.

    Parameters
    ----------
    out
        The output store (a folder).
    create
        Makes the output store; called with the lock held, for a run that is not resumed
        (needed then).
    reopen
        Opens the output of the run being resumed (raising when there is none); needed
        with ``resume``. (A folder that is never replaced, such as a study's, is always
        resumed: ``reopen`` prepares it.)
    resume
        Continue the run stored in ``out``: nothing is replaced or reset.
    overwrite
        Replace an existing volseg store at ``out``.

    Yields
    ------
    T
        What ``create()`` (or ``reopen()``) returned.

    Raises
    ------
    RunLockedError
        Another live run holds the lock of ``out``: nothing was written or deleted.
        Also when ``create()`` deleted the run-state folder (a bug of the caller: the
        lock is gone).
    StoreExistsError
        ``out`` holds something and ``overwrite`` is false, or it is not a volseg store.

    Notes
    -----
    When the output did not exist and ``create()`` or ``reopen()`` fails, the empty
    folders the lock made are removed again.

    Examples
    --------
    >>> with open_run(out, create=make_store, overwrite=overwrite) as store:  # doctest: +SKIP
    ...     ledger = Ledger(out)
    ...     ledger.start(layout, resume=False)
    ...     summary = run_task(BlockTask("segment", grid, fn, done=ledger), client)
    """
    path = Path(out)
    lock = RunLock(path)
    lock.check_free()
    make = reopen if resume else create
    if make is None:
        raise ValueError(f"open_run(resume={resume}) needs {'reopen' if resume else 'create'}")
    if not resume:
        check_output(path, overwrite=overwrite, keep=(RUN_DIR,))
    made = not path.exists()
    lock.acquire()
    try:
        try:
            if not resume:
                Ledger(path).reset()  # the done blocks of an earlier run count no more
            output = make()
            lock.verify()
        except BaseException:
            lock.release()
            if made:
                _remove_if_empty(path)
            raise
        yield output
    finally:
        lock.release()
