from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TOMOGRAPHY = SHARED / "data" / "tomography"


@pytest.fixture(scope="session")
def tomography() -> Path:
    """The real X-ray tomography slices with labels in ../shared (skips, naming it, if absent)."""
    if not (TOMOGRAPHY / "train" / "images").is_dir():
        pytest.skip(f"real tomography data not found: {TOMOGRAPHY} is missing")
    return TOMOGRAPHY


@pytest.fixture
def smoke_benchmark(tmp_path):
    """Run ``benchmarks/SCRIPT --smoke`` into a temp folder; return that folder's JSON file."""
    import json
    import subprocess
    import sys

    def run(script: str, result: str) -> dict:
        path = Path(__file__).resolve().parents[1] / "benchmarks" / script
        res = subprocess.run(
            [sys.executable, str(path), "--smoke", "--out", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert res.returncode == 0, res.stderr
        return json.loads((tmp_path / result).read_text())

    return run
