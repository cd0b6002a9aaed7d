"""The typer application and option parsers shared by the commands."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from volseg.cli._completion import InstallCompletion, ShowCompletion
from volseg.errors import ConfigError

PROG = "volseg"

app = typer.Typer(
    name=PROG,
    help="Large-volume streaming segmentation of tomography volumes.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["--help", "-h"]},  # inherited by every command
    add_completion=False,  # volseg's own options take the shell (see _completion.py)
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from volseg import __version__

        typer.echo(f"volseg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    show_completion: ShowCompletion = None,
    install_completion: InstallCompletion = None,
) -> None:
    """Large-volume streaming segmentation of tomography volumes."""


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


# Options shared by the commands that write a store.
OutStore = Annotated[Path, typer.Argument(help="The OME-Zarr store to write (OUT.zarr).")]
VoxelSize = Annotated[
    str, typer.Option("--voxel-size", help="Voxel size Z,Y,X in µm (one number for isotropic).")
]
Chunks = Annotated[
    str | None,
    typer.Option(help="Chunk shape Z,Y,X (default: 512 in y/x, about 4 MiB per chunk)."),
]
Levels = Annotated[int, typer.Option(help="Pyramid levels for viewing (1 = none).")]
Workers = Annotated[int | None, typer.Option(help="Parallel threads (default: all CPUs).")]
Overwrite = Annotated[
    bool, typer.Option(help="Replace OUT if it is a volseg store (nothing else is ever deleted).")
]
ShowProgress = Annotated[bool, typer.Option(help="Show a progress bar.")]
