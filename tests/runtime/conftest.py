from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import zarr
from runtime_toy import CHUNKS, SHAPE, Output, make_array

from volseg.runtime import connect


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    """A real LocalCluster shared by a test module: 2 worker processes × 1 thread."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
        handle = connect(n_workers=2, threads_per_worker=1, processes=True)
    assert handle.owned
    with handle as c:
        yield c


@pytest.fixture
def output(tmp_path: Path) -> Output:
    path = tmp_path / "out.zarr"
    zarr.open_group(path, mode="w", zarr_format=3)
    make_array(path / "labels", SHAPE, CHUNKS)
    markers = tmp_path / "markers"
    markers.mkdir()
    return Output(path, path / "labels", markers)
