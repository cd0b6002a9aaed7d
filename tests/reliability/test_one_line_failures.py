"""A run that fails on the operating system (a write refused: a file grown past a size
limit, as a full disk refuses it) ends in one ``error:`` line naming what to do and a
non-zero exit, never a traceback, unless ``--debug`` asks for it."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from pathlib import Path


def _limited(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``volseg phantom OUT`` in a process whose files may not grow past 2000 bytes: its
    chunk writes fail with EFBIG, a real OSError from the kernel."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))

    args = ["phantom", str(out), "--shape", "4,64,64", "--no-progress", *extra]
    return subprocess.run(
        [sys.executable, "-c", "from volseg.cli import main; main()", *args],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=300,
    )


def test_a_refused_write_ends_in_one_line_and_exit_1(tmp_path: Path) -> None:
    res = _limited(tmp_path / "p.zarr")
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: File too large")
    assert "run again with --resume" in lines[0] and "Traceback" not in res.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    res = _limited(tmp_path / "p.zarr", "--debug")
    assert res.returncode == 1
    assert "Traceback" in res.stderr and "File too large" in res.stderr
