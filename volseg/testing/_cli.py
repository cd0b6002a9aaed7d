"""Run the ``volseg`` command line in a fresh process, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping


def volseg_command(*args: object) -> list[str]:
    """The argv of ``volseg ARGS...`` with this interpreter (for ``subprocess.Popen``)."""
    return [sys.executable, "-c", "from volseg.cli import main; main()", *map(str, args)]


def run_volseg(
    *args: object,
    timeout: float = 300,
    env: Mapping[str, str] | None = None,
    start_new_session: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``volseg ARGS...`` with this interpreter; output captured as text, never raises.

    ``env`` is added to this process's environment (e.g. :attr:`Faults.env`);
    ``start_new_session`` runs it in a process group of its own (which a fault may kill
    whole, as a crash of the machine would)."""
    return subprocess.run(
        volseg_command(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else {**os.environ, **env},
        start_new_session=start_new_session,
    )
