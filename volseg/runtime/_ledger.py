"""The done ledger of a run: which blocks are finished, for which layout/config."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from volseg.errors import (
    ConfigError,
    ResumeMismatchError,
    RunStateExistsError,
    StoreNotFoundError,
)
from volseg.runtime._state import read_json, run_dir, write_json_atomic

_LEDGER = "ledger.json"


def canonical_json(layout: Mapping[str, Any]) -> str:
    """``layout`` as canonical JSON: sorted keys, no whitespace, no NaN."""
    try:
        return json.dumps(layout, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"the run layout must be plain JSON (numbers, strings, lists, dicts): {exc}"
        ) from exc


def layout_hash(layout: Mapping[str, Any]) -> str:
    """The sha256 (hex) of the canonical JSON of ``layout``."""
    return hashlib.sha256(canonical_json(layout).encode()).hexdigest()


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths of the entries that differ between two JSON-like values."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old or key not in new:
                out.append(path)
            else:
                out.extend(changed_keys(old[key], new[key], path))
        return out
    return [] if old == new else [prefix or "<layout>"]


class Ledger:
    """Done markers of a run, stored with the output in ``<store>/.volseg-run/``.

    The ledger holds the layout/config of the run (``ledger.json``: the layout and its
    sha256) and one marker file per finished block in ``done-<hash[:16]>/<block id>``.
    Markers live in a folder named after the layout hash, so a marker can only ever count
    for the layout it was written under.

    A block is *done* only when its marker exists. Call :meth:`mark_done` after the
    block's task returned successfully, i.e. after all its chunks were written: a chunk
    that exists, or holds non-zero data, never means done.

    Parameters
    ----------
    store_path
        The output store (a zarr folder).

    Notes
    -----
    The layout must hold everything that decides block ids and block output: volume shape,
    chunks, block shape, the resolved config, the weights hash. One client (the run's lock
    holder) writes the ledger; markers are written atomically (temp file + rename).

    Examples
    --------
    >>> ledger = Ledger(path)  # doctest: +SKIP
    >>> done = ledger.start({"shape": [64, 512], "block": [16, 256]}, resume=True)  # doctest: +SKIP
    >>> ledger.mark_done(3, {"voxels": 1048576})  # doctest: +SKIP
    """

    def __init__(self, store_path: str | os.PathLike[str]) -> None:
        self.store_path = Path(store_path)
        self.dir = run_dir(self.store_path)
        self._hash: str | None = None

    # ---------------------------------------------------------------- state
    @property
    def exists(self) -> bool:
        """Whether a ledger was started in this store."""
        return (self.dir / _LEDGER).is_file()

    def stored(self) -> dict[str, Any] | None:
        """The stored ledger header (``layout``, ``hash``, ``created``), or None."""
        if not self.exists:
            return None
        data = read_json(self.dir / _LEDGER)
        return dict(data)

    @property
    def hash(self) -> str:
        """The layout hash of the started ledger."""
        if self._hash is None:
            stored = self.stored()
            if stored is None:
                raise StoreNotFoundError(
                    f"no ledger started in {self.store_path}; call Ledger.start(layout) first"
                )
            self._hash = str(stored["hash"])
        return self._hash

    @property
    def done_dir(self) -> Path:
        return self.dir / f"done-{self.hash[:16]}"

    # ------------------------------------------------------------ lifecycle
    def start(self, layout: Mapping[str, Any], *, resume: bool) -> set[int]:
        """Start (or resume) the ledger for ``layout``; return the ids already done.

        Parameters
        ----------
        layout
            Plain-JSON dict of everything that decides the blocks and their output.
        resume
            Continue the run stored here. Without a stored ledger a resume starts afresh.

        Returns
        -------
        set of int
            Ids of blocks already done (empty for a new run).

        Raises
        ------
        ResumeMismatchError
            ``resume`` and the stored layout differs; the message lists the changed keys.
        RunStateExistsError
            Not ``resume`` but a ledger exists: resume, or call :meth:`reset` to start over.
        ConfigError
            ``layout`` is not plain JSON.
        """
        new_hash = layout_hash(layout)
        stored = self.stored()
        if stored is not None:
            if not resume:
                n = len(self._read_done(self.dir / f"done-{str(stored['hash'])[:16]}"))
                raise RunStateExistsError(
                    f"{self.store_path} holds the ledger of a previous run ({n} blocks done, "
                    f"started {stored.get('created', '?')}); resume it, or reset the ledger "
                    "(Ledger.reset, or --overwrite) to start over"
                )
            if stored["hash"] != new_hash:
                keys = changed_keys(stored.get("layout"), json.loads(canonical_json(layout)))
                raise ResumeMismatchError(
                    f"cannot resume the run in {self.store_path}: its layout/config differs "
                    f"from the stored one in {', '.join(keys) or 'its hash'}; resume with the "
                    "original settings, or start over with --overwrite"
                )
            self._hash = new_hash
            self.done_dir.mkdir(parents=True, exist_ok=True)
            return self.done()
        header = {
            "layout": json.loads(canonical_json(layout)),
            "hash": new_hash,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self._hash = new_hash
        self.done_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.dir / _LEDGER, header)
        return set()

    def reset(self) -> None:
        """Forget every done marker and the stored layout (the run lock is kept)."""
        self._hash = None
        # Markers first: a crash mid-reset must never leave markers with a valid header.
        if self.dir.is_dir():
            for path in self.dir.glob("done-*"):
                shutil.rmtree(path, ignore_errors=True)
        (self.dir / _LEDGER).unlink(missing_ok=True)

    # -------------------------------------------------------------- markers
    def mark_done(self, block_id: int, stats: Mapping[str, Any] | None = None) -> None:
        """Record block ``block_id`` as done (atomic). Call only after its data is written.

        ``stats`` (small, JSON) is stored in the marker for reporting.
        """
        record = {
            "id": int(block_id),
            "stats": dict(stats or {}),
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_json_atomic(self.done_dir / str(int(block_id)), record)

    def is_done(self, block_id: int) -> bool:
        return (self.done_dir / str(int(block_id))).is_file()

    def done(self) -> set[int]:
        """Ids of every block marked done under the current layout."""
        return self._read_done(self.done_dir)

    def stats(self, block_id: int) -> dict[str, Any]:
        """The stats stored with the done marker of ``block_id``."""
        return dict(read_json(self.done_dir / str(int(block_id)))["stats"])

    @staticmethod
    def _read_done(folder: Path) -> set[int]:
        if not folder.is_dir():
            return set()
        return {int(p.name) for p in folder.iterdir() if p.name.isdigit()}

    def __repr__(self) -> str:
        return f"Ledger({str(self.store_path)!r})"
