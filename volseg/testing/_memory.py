"""Measure the peak resident memory of Python code run in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class MemoryUse:
    """Resident memory of a measured run, in MiB."""

    baseline_mib: float  #: resident after ``setup`` ran, before ``code``
    peak_mib: float  #: the peak while ``code`` ran

    @property
    def growth_mib(self) -> float:
        """How far ``code`` pushed memory above the baseline."""
        return self.peak_mib - self.baseline_mib


_PROBE = """
import json as _json

def _status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
"""


def peak_rss_mib_of(code: str, *, setup: str = "", timeout: float = 600) -> MemoryUse:
    """Run ``setup`` then ``code`` in a new Python process; measure ``code``'s peak RSS.

    The kernel's high-water mark (``VmHWM``) is reset after ``setup`` (imports, warm-up),
    so the peak covers only ``code``, including every allocation outside Python (numpy,
    numba, zarr codecs, threads). Linux only.
    """
    script = "\n".join(
        [
            _PROBE,
            textwrap.dedent(setup),
            "with open('/proc/self/clear_refs', 'w') as _f:\n    _f.write('5')",
            "_baseline = _status('VmRSS')",
            textwrap.dedent(code),
            "print('MEMORY_JSON', _json.dumps([_baseline, _status('VmHWM')]))",
        ]
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise RuntimeError(f"measured process failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("MEMORY_JSON"))
    baseline, peak = json.loads(line.split(" ", 1)[1])
    return MemoryUse(baseline, peak)
