from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import slurm_local
import zarr
from runtime_toy import CHUNKS, SHAPE, Output, make_array

from volseg.io import open_labels, open_volume
from volseg.phantom import PhantomConfig, generate_phantom
from volseg.testing import run_volseg, write_tiny_checkpoint


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


@pytest.fixture(scope="session")
def slurm_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The SLURM tests' phantom (:data:`slurm_local.SHAPE`) and a tiny checkpoint."""
    root = tmp_path_factory.mktemp("slurm_inputs")
    config = PhantomConfig(shape=slurm_local.SHAPE, seed=2)
    volume = generate_phantom(root / "vol.zarr", config, chunks=(1, 64, 64), progress=False).path
    model = write_tiny_checkpoint(root / "model.pt", open_volume(volume).values)
    return volume, model


@pytest.fixture(scope="session")
def slurm_reference(
    slurm_inputs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Its segmentation on a LocalCluster of two worker processes: what every SLURM run
    must write, bit for bit."""
    out = tmp_path_factory.mktemp("slurm_reference") / "local.zarr"
    args = slurm_local.segment_args(slurm_inputs, out)
    res = run_volseg(*args, "--workers", "2", "--threads", "1")
    assert res.returncode == 0, res.stderr
    labels = open_labels(out, "segmentation").values
    assert set(np.unique(labels)) == {0, 1, 2}  # not vacuous: every class occurs
    return out
