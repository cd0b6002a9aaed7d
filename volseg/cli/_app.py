"""The typer application and option parsers shared by the commands."""

from __future__ import annotations

import shlex
import sys

import typer

from volseg.errors import ConfigError

app = typer.Typer(
    name="volseg",
    help="Large-volume streaming segmentation of tomography volumes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def parse_triple(text: str | None, option: str, kind: type = int) -> tuple | None:
    """Parse ``"Z,Y,X"`` (or a single value used for all three axes) for ``option``."""
    if text is None:
        return None
    parts = [p.strip() for p in text.replace("x", ",").split(",") if p.strip()]
    if len(parts) == 1:
        parts *= 3
    try:
        values = tuple(kind(p) for p in parts)
    except ValueError:
        raise ConfigError(
            f"{option} takes Z,Y,X {kind.__name__}s, e.g. {option} 16,512,512; got {text!r}"
        ) from None
    if len(values) != 3:
        raise ConfigError(f"{option} takes three values Z,Y,X, got {text!r}")
    return values


def command_line() -> str:
    """The command as the user typed it, for provenance."""
    return shlex.join(["volseg", *sys.argv[1:]])
