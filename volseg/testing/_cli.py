"""Run the ``volseg`` command line in a fresh process, as a user would."""

from __future__ import annotations

import subprocess
import sys


def run_volseg(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``volseg ARGS...`` with this interpreter; output captured as text, never raises."""
    return subprocess.run(
        [sys.executable, "-c", "from volseg.cli import main; main()", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
