from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import slurm_local
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


@pytest.fixture(scope="session")
def slurm() -> Iterator[None]:
    """A real single-node SLURM cluster (``scripts/slurm_local.sh``): the one ``sinfo``
    answers for, else started here (and stopped at the end of the session). Skips only
    when it cannot be started, naming why (the script's one-line reason)."""
    pytest.importorskip(
        "dask_jobqueue", reason="dask-jobqueue (the 'slurm' extra) is not installed"
    )
    why, started = slurm_local.start()
    if why is not None:
        pytest.skip(why)
    try:
        yield
    finally:
        if started:
            slurm_local.stop()
