from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TOMOGRAPHY = SHARED / "data" / "tomography"


@pytest.fixture(scope="session")
def tomography() -> Path:
    """The real X-ray tomography slices with labels in ../shared (skips, naming it, if absent)."""
    if not (TOMOGRAPHY / "train" / "images").is_dir():
        pytest.skip(f"real tomography data not found: {TOMOGRAPHY} is missing")
    return TOMOGRAPHY


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    """A real LocalCluster shared by a test module: 2 worker processes × 1 thread (never the
    cluster of ``DASK_SCHEDULER_ADDRESS``)."""
    from volseg.runtime import connect

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
        handle = connect(n_workers=2, threads_per_worker=1, processes=True)
    assert handle.owned
    with handle as c:
        yield c


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


@pytest.fixture(scope="module")
def tile_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A (4, 128, 128) phantom with ground truth and a unet-small (alignment 16) checkpoint."""
    from volseg.io import open_volume
    from volseg.phantom import PhantomConfig, generate_phantom
    from volseg.testing import write_tiny_checkpoint

    root = tmp_path_factory.mktemp("tiles")
    config = PhantomConfig(shape=(4, 128, 128), seed=5)
    store = generate_phantom(root / "vol.zarr", config, chunks=(2, 64, 64), progress=False)
    ckpt = write_tiny_checkpoint(root / "model.pt", open_volume(store.path).values)
    return store.path, ckpt


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh volseg cache folder (``VOLSEG_CACHE_DIR``, inherited by child processes)."""
    monkeypatch.setenv("VOLSEG_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def reconstruction(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of a reconstruction of a (24, 128, 128) phantom's somas (ground
    truth; 3 objects, each with a mesh and a skeleton), run on an in-process cluster."""
    from volseg.phantom import PhantomConfig, generate_phantom
    from volseg.reconstruct import reconstruct
    from volseg.runtime import connect

    root = tmp_path_factory.mktemp("reconstruction")
    config = PhantomConfig(shape=(24, 128, 128), seed=5)
    generate_phantom(root / "phantom.zarr", config, chunks=(8, 64, 64), progress=False)
    with connect(n_workers=1, threads_per_worker=1, processes=False) as c:
        reconstruct(
            root / "phantom.zarr",
            root / "objects",
            labels="ground_truth",
            skeletons="all",
            client=c,
            progress=False,
        )
    return root / "objects"


@pytest.fixture(scope="session")
def demo_cli(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """``volseg demo --json`` run once as a user runs it (its own process, built-in
    defaults, ``out/demo`` under the folder it starts in): that folder and the summary.

    ``tests/test_demo.py`` checks the run; the docs examples start from its ``out/demo``.
    """
    root = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    env.update(MPLBACKEND="Agg", NO_COLOR="1", VOLSEG_CACHE_DIR=str(root / "cache"))
    command = [sys.executable, "-m", "volseg.cli", "demo", "--no-progress", "--json"]
    done = subprocess.run(
        command, cwd=root, env=env, capture_output=True, text=True, timeout=1800, check=False
    )
    assert done.returncode == 0, f"volseg demo failed ({done.returncode}):\n{done.stderr[-4000:]}"
    return root, json.loads(done.stdout)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` skip, naming the missing resource, where CUDA is absent."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="gpu: no CUDA device (torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
