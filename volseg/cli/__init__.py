"""The ``volseg`` command line: thin commands that parse options, build configs and run."""

from __future__ import annotations

from volseg.cli import (  # noqa: F401
    _classify,
    _demo,
    _evaluate,
    _export,
    _info,
    _ingest,
    _phantom,
    _reconstruct,
    _segment,
    _study,
    _study_tiles,
    _train,
    _verify,
    _view,
)
from volseg.cli._app import app
from volseg.cli._main import main

__all__ = ["app", "main"]
