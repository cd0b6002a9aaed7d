"""Shared by the benchmark scripts: machine description and result files."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(**extra: Any) -> dict[str, Any]:
    """CPU count and model, Python version, plus ``extra``."""
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        **extra,
    }


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def write_results(out: Path, name: str, result: dict[str, Any], table: str | None = None) -> None:
    """Write ``out/name.json`` (and ``out/name.md`` when a table is given)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    if table is not None:
        (out / f"{name}.md").write_text(table)
