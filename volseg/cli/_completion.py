"""Shell completion: ``volseg --show-completion SHELL`` and ``--install-completion SHELL``.

typer 0.29's own options detect the shell from the parent process and ignore a shell
given after them (``--show-completion zsh`` run from bash prints the bash script); these
take the shell explicitly. The scripts and the completion protocol (``_VOLSEG_COMPLETE``)
are typer's.
"""

from __future__ import annotations

from typing import Annotated, Literal

import typer
from typer._completion_classes import completion_init
from typer._completion_shared import get_completion_script, install

Shell = Literal["bash", "zsh", "fish", "powershell", "pwsh"]

completion_init()  # typer's completion classes answer the scripts' `complete_SHELL` calls


def _complete_var(ctx: typer.Context) -> tuple[str, str]:
    prog = ctx.find_root().info_name or "volseg"
    return prog, f"_{prog.replace('-', '_').upper()}_COMPLETE"


def _show(ctx: typer.Context, shell: Shell | None) -> None:
    if shell is None or ctx.resilient_parsing:
        return
    prog, var = _complete_var(ctx)
    typer.echo(get_completion_script(prog_name=prog, complete_var=var, shell=shell))
    raise typer.Exit()


def _install(ctx: typer.Context, shell: Shell | None) -> None:
    if shell is None or ctx.resilient_parsing:
        return
    prog, var = _complete_var(ctx)
    _, path = install(shell=shell, prog_name=prog, complete_var=var)
    typer.echo(f"{shell} completion installed in {path}; it takes effect in a new shell")
    raise typer.Exit()


ShowCompletion = Annotated[
    Shell | None,
    typer.Option(
        "--show-completion",
        metavar="SHELL",
        callback=_show,
        is_eager=True,
        expose_value=False,
        help="Print the completion script of SHELL (bash, zsh, fish, powershell, pwsh).",
    ),
]
InstallCompletion = Annotated[
    Shell | None,
    typer.Option(
        "--install-completion",
        metavar="SHELL",
        callback=_install,
        is_eager=True,
        expose_value=False,
        help="Install completion for SHELL (bash, zsh, fish, powershell, pwsh).",
    ),
]
