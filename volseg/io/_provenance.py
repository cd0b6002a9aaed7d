"""Provenance recorded in every store volseg writes."""

from __future__ import annotations

import datetime as _dt
import hashlib
import platform
import shlex
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from volseg._version import __version__


def provenance(
    *,
    command: str | None = None,
    config: Mapping[str, Any] | None = None,
    inputs: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A provenance record: volseg version, command, resolved config, time and inputs.

    Parameters
    ----------
    command
        The command line that made the store; ``sys.argv`` joined when not given.
    config
        The resolved configuration (every default filled in), JSON-serializable.
    inputs
        One mapping per input, e.g. ``{"kind": "slices", "path": ..., "sha256": ...}``.
    """
    return {
        "volseg_version": __version__,
        "command": command if command is not None else shlex.join(sys.argv),
        "config": dict(config or {}),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "inputs": [dict(i) for i in inputs],
        "python": platform.python_version(),
        "host": platform.node(),
    }


def combine_digests(digests: Iterable[str]) -> str:
    """One sha256 over an ordered sequence of per-slice hex digests."""
    h = hashlib.sha256()
    for d in digests:
        h.update(bytes.fromhex(d))
    return h.hexdigest()
