"""The ``volseg`` entry point: how a run ends (exit status and what stderr says)."""

from __future__ import annotations

import sys

import typer
import typer.main

from volseg.cli._app import PROG, app
from volseg.errors import VolsegError


def main() -> None:
    """Entry point of the ``volseg`` console script.

    Exit status: 0 done; 1 the run failed (blocks or runs failed, an incomplete store);
    2 a usage or configuration error (the usage line, or one ``error:`` line, never a
    traceback); 130 aborted (Ctrl-C).
    """
    try:
        # prog_name: usage lines and the completion variable (_VOLSEG_COMPLETE) say
        # "volseg" however it was started (the script, python -m volseg.cli, a test).
        code = app(standalone_mode=False, prog_name=PROG)  # a typer.Exit comes back
        if isinstance(code, int) and code:
            _exit(code)
    except VolsegError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)
    except typer.Exit as exc:
        _exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _exit(130)
    except typer.TyperException as exc:  # errors of typer's bundled click; usage ones exit 2
        show = getattr(exc, "show", None)
        if getattr(exc, "ctx", False) is None:  # raised by the parser without a context
            typer.echo(_usage(sys.argv[1:]), err=True)
        if callable(show):
            show()  # the usage line, a hint naming --help, and the error
        else:
            typer.secho(f"error: {exc.format_message()}", fg="red", err=True)
        sys.exit(exc.exit_code)


def _exit(code: int) -> None:
    if code == 130:  # typer turns Ctrl-C into Exit(130)
        typer.secho("aborted", fg="red", err=True)
    sys.exit(code)


def _usage(args: list[str]) -> str:
    """The usage line and the help hint of the deepest command that ``args`` name."""
    command = typer.main.get_command(app)
    ctx = typer.Context(command, info_name=PROG)
    for token in args:
        commands = getattr(ctx.command, "commands", None)
        if commands is None:  # a command, not a group: the rest are its parameters
            break
        if token in commands:
            ctx = typer.Context(commands[token], info_name=token, parent=ctx)
        elif not token.startswith("-"):
            break
    return f"{ctx.get_usage()}\nTry '{ctx.command_path} --help' for help.\n"
