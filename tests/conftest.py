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
