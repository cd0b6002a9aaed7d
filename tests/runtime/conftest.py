from __future__ import annotations

from pathlib import Path

import pytest
import zarr
from runtime_toy import CHUNKS, SHAPE, Output, make_array


@pytest.fixture
def output(tmp_path: Path) -> Output:
    path = tmp_path / "out.zarr"
    zarr.open_group(path, mode="w", zarr_format=3)
    make_array(path / "labels", SHAPE, CHUNKS)
    markers = tmp_path / "markers"
    markers.mkdir()
    return Output(path, path / "labels", markers)
