"""The ``volseg`` entry point: how a run ends (exit status and what stderr says)."""

from __future__ import annotations

import errno
import os
import sys

import typer
import typer.main

from volseg.cli._app import PROG, app
from volseg.errors import BlocksFailedError, CorruptChunkError, MissingChunkError, VolsegError

#: Errors of the data a run reads, found as it reads it: status 1, not 2 (as is any error
#: that stops a block run under way, e.g. the cluster lost).
RUN_FAILURES = (BlocksFailedError, CorruptChunkError, MissingChunkError)


def main() -> None:
    """Entry point of the ``volseg`` console script.

    Exit status: 0 done; 1 the run failed (blocks or runs failed, a damaged chunk, the
    cluster lost, an incomplete store, a full disk, a permission refused, an unexpected
    error: one ``error:`` line); 2 a usage or configuration error (the usage line, or one
    ``error:`` line); 130 aborted (Ctrl-C). An error that stopped a block run comes after
    that run's summary so far (blocks done, failed, pending; how to resume). Never a
    traceback, unless ``--debug`` (anywhere on the command line) or ``VOLSEG_DEBUG=1`` asks
    for it.
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
        _error(exc, str(exc))
        sys.exit(1 if isinstance(exc, RUN_FAILURES) or _stopped_a_run(exc) else 2)
    except OSError as exc:
        if debug:
            raise
        _error(exc, os_error_line(exc))
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
        _error(
            exc,
            f"unexpected {type(exc).__name__}: {first}; run again with --debug for the "
            "traceback, and report it",
        )
        sys.exit(1)


def _stopped_a_run(exc: BaseException) -> bool:
    from volseg.runtime._summary import stopped_a_run

    return stopped_a_run(exc)


def _error(exc: BaseException, line: str) -> None:
    """The summary of the block run ``exc`` stopped, if any, then ``error: line``."""
    from volseg.runtime._summary import summary_of  # no dask or torch: the CLI stays fast

    summary = summary_of(exc)
    if summary is not None:
        typer.echo(str(summary), err=True)
    typer.secho(f"error: {line}", fg="red", err=True)


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
