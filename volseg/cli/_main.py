"""The ``volseg`` entry point: how a run ends (exit status and what stderr says)."""

from __future__ import annotations

import errno
import os
import sys

import typer
import typer.main

from volseg.cli._app import PROG, app
from volseg.errors import VolsegError


def main() -> None:
    """Entry point of the ``volseg`` console script.

    Exit status: 0 done; 1 the run failed (blocks or runs failed, an incomplete store, a
    full disk, a permission refused, an unexpected error: one ``error:`` line); 2 a usage
    or configuration error (the usage line, or one ``error:`` line); 130 aborted (Ctrl-C).
    Never a traceback, unless ``--debug`` (anywhere on the command line) or
    ``VOLSEG_DEBUG=1`` asks for it.
    """
    debug = "--debug" in sys.argv[1:] or os.environ.get("VOLSEG_DEBUG", "") not in ("", "0")
    if "--debug" in sys.argv[1:]:
        sys.argv.remove("--debug")
    try:
        # prog_name: usage lines and the completion variable (_VOLSEG_COMPLETE) say
        # "volseg" however it was started (the script, python -m volseg.cli, a test).
        code = app(standalone_mode=False, prog_name=PROG)  # a typer.Exit comes back
        if isinstance(code, int) and code:
            _exit(code)
    except VolsegError as exc:
        if debug:
            raise
        typer.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)
    except OSError as exc:
        if debug:
            raise
        typer.secho(f"error: {os_error_line(exc)}", fg="red", err=True)
        sys.exit(1)
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
    except Exception as exc:  # a bug: one line, the traceback with --debug
        if debug:
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        typer.secho(
            f"error: unexpected {type(exc).__name__}: {first}; run again with --debug for "
            "the traceback, and report it",
            fg="red",
            err=True,
        )
        sys.exit(1)


#: What to do about an operating-system error, by errno.
_OS_FIXES = {
    errno.ENOSPC: "free space on that disk (or write elsewhere), then run again with --resume",
    errno.EDQUOT: "free space within your quota, then run again with --resume",
    errno.EFBIG: "the file grew past a size limit (ulimit -f, or the file system's); lift it "
    "and run again with --resume",
    errno.EACCES: "check the permissions of that path, or write elsewhere",
    errno.EPERM: "check the permissions of that path, or write elsewhere",
    errno.EROFS: "the file system is read-only: write elsewhere",
    errno.EIO: "the disk reported an I/O error: check it, then run again with --resume",
}


def os_error_line(exc: OSError) -> str:
    """One line for an operating-system error: what failed, on which path, what to do."""
    what = exc.strerror or type(exc).__name__
    where = f" ({exc.filename})" if exc.filename else ""
    fix = _OS_FIXES.get(exc.errno or 0, "fix the cause, then run again (--resume continues a run)")
    return f"{what}{where}; {fix}"


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
