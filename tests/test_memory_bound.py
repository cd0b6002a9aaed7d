"""Streaming keeps memory bounded: a 32x deeper volume must not raise peak RSS by more than
a fraction of its size. Each run is measured in a fresh process (peak RSS from getrusage)."""

from __future__ import annotations

import numpy as np
import pytest

from volseg.testing import peak_rss_mib_of, write_slices

SLICE = (128, 128)  # float32: 64 KiB a slice
SHALLOW, DEEP = 32, 1024  # the deep volume is 64 MiB raw
GROWTH_CEILING_MIB = 20.0  # extra peak allowed for the 32x deeper volume
JOB_CEILING_MIB = 48.0  # peak above the process baseline for the deep job (< 64 MiB raw)


def _ingest_code(src, out) -> str:
    return f"""
ingest({str(src)!r}, {str(out)!r}, num_workers=2, progress=False)
"""


def _phantom_code(out, depth) -> str:
    return f"""
generate_phantom({str(out)!r}, PhantomConfig(shape=({depth}, {SLICE[0]}, {SLICE[1]}),
                 dtype="float32"), num_workers=2, progress=False)
"""


@pytest.fixture(scope="module")
def deep_slices(tmp_path_factory):
    root = tmp_path_factory.mktemp("slices")
    rng = np.random.default_rng(0)
    for depth in (SHALLOW, DEEP):
        vol = rng.normal(size=(depth, *SLICE)).astype(np.float32)
        write_slices(root / str(depth), vol, fmt="tif")
    return root


def _check(shallow, deep):
    detail = (
        f"peak growth {shallow.growth_mib:.1f} MiB at depth {SHALLOW}, "
        f"{deep.growth_mib:.1f} MiB at depth {DEEP} (raw deep volume: 64 MiB)"
    )
    assert deep.growth_mib - shallow.growth_mib < GROWTH_CEILING_MIB, detail
    assert deep.growth_mib < JOB_CEILING_MIB, detail


def test_ingest_memory_does_not_grow_with_depth(deep_slices, tmp_path):
    setup = "from volseg.io import ingest"
    shallow = peak_rss_mib_of(
        _ingest_code(deep_slices / str(SHALLOW), tmp_path / "a.zarr"), setup=setup
    )
    deep = peak_rss_mib_of(_ingest_code(deep_slices / str(DEEP), tmp_path / "b.zarr"), setup=setup)
    _check(shallow, deep)


def test_phantom_memory_does_not_grow_with_depth(tmp_path):
    # warm-up: load the compiled numba kernels before the measurement starts
    setup = f"""
from volseg.phantom import PhantomConfig, generate_phantom
generate_phantom({str(tmp_path / "warm.zarr")!r}, PhantomConfig(shape=(2, 32, 32),
                 dtype="float32"), num_workers=2, progress=False, overwrite=True)
"""
    shallow = peak_rss_mib_of(_phantom_code(tmp_path / "a.zarr", SHALLOW), setup=setup)
    deep = peak_rss_mib_of(_phantom_code(tmp_path / "b.zarr", DEEP), setup=setup)
    _check(shallow, deep)
