"""Smoke-sized runs of the benchmarks so they never rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_foundation_benchmark_smoke(tmp_path):
    script = BENCHMARKS / "bench_foundation.py"
    res = subprocess.run(
        [sys.executable, str(script), "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    result = json.loads((tmp_path / "foundation.json").read_text())
    cases = {c["case"]: c for c in result["cases"]}
    assert set(cases) == {
        "phantom --mode fast",
        "phantom --mode ct",
        "ingest PNG slices + labels",
        "ingest TIF slices + labels",
    }
    assert all(c["slices_per_s"] > 0 and c["MB_per_s"] > 0 for c in cases.values())
    assert "| phantom --mode fast |" in (tmp_path / "foundation.md").read_text()
