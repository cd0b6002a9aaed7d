"""The ``volseg`` command line: thin commands that parse options, build configs and run."""

from __future__ import annotations

import sys

import typer

from volseg.cli import (  # noqa: F401
    _classify,
    _demo,
    _evaluate,
    _info,
    _ingest,
    _phantom,
    _reconstruct,
    _segment,
    _study,
    _study_tiles,
    _train,
    _view,
)
from volseg.cli._app import app
from volseg.errors import VolsegError

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``volseg`` console script: errors become one clear line, exit 2."""
    try:
        code = app(standalone_mode=False)  # a typer.Exit comes back as its exit code
        if isinstance(code, int) and code:
            sys.exit(code)
    except VolsegError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.secho("aborted", fg="red", err=True)
        sys.exit(130)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
