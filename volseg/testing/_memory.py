"""Measure the peak resident memory of Python code run in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def peak_rss_mib_of(code: str, *, timeout: float = 600) -> float:
    """Run ``code`` in a new Python process and return its peak RSS in MiB.

    The peak comes from ``getrusage(RUSAGE_SELF).ru_maxrss`` read at the end of the
    process, so it covers every allocation (numpy, numba, zarr codecs, threads).
    """
    script = textwrap.dedent(code) + textwrap.dedent(
        """
        import json as _json, resource as _resource
        print("PEAK_RSS_JSON", _json.dumps(_resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise RuntimeError(f"measured process failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("PEAK_RSS_JSON"))
    return float(json.loads(line.split(" ", 1)[1])) / 1024.0  # Linux reports KiB
