"""A write refused after the last block (the labels pyramid, the completeness mark): the
error carries the run's summary (every block done), the store is not marked complete,
and ``--resume`` finishes it with the bytes of an uninterrupted run (issue 15, 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

from volseg.io import VolumeStore
from volseg.phantom import PhantomConfig, generate_phantom
from volseg.runtime._summary import summary_of
from volseg.segment import make_segment_config, segment
from volseg.testing import Fault, inject_faults, write_tiny_checkpoint


def test_a_refused_pyramid_write_keeps_the_summary_and_resume_finishes(tmp_path: Path) -> None:
    volume = tmp_path / "v.zarr"
    generate_phantom(
        volume, PhantomConfig(shape=(3, 96, 80), seed=2), chunks=(1, 96, 80), levels=2,
        progress=False,
    )  # fmt: skip
    images = np.asarray(zarr.open_array(volume / "0", mode="r")[:])
    ckpt = write_tiny_checkpoint(tmp_path / "m.pt", images)

    def config(out: Path, **extra: object) -> object:
        values = {"volume": str(volume), "model": str(ckpt), "out": str(out), "tile": 64}
        return make_segment_config(values | extra)

    clean = segment(config(tmp_path / "clean.zarr"), progress=False, inline=True).out
    out = tmp_path / "o.zarr"
    with inject_faults(tmp_path / "faults") as faults:
        faults.plan(out, Fault("enospc", "labels/segmentation/1/c/*"))
        with pytest.raises(OSError, match="No space left") as info:
            segment(config(out), progress=False, inline=True)
    summary = summary_of(info.value)
    assert summary is not None and summary.ok and summary.done == summary.total == 3
    assert not VolumeStore.open(out).complete
    resumed = segment(config(out, resume=True), progress=False, inline=True)
    assert resumed.summary.skipped == 3 and VolumeStore.open(out).complete
    for level in ("0", "1"):
        key = f"labels/segmentation/{level}"
        np.testing.assert_array_equal(
            zarr.open_array(out / key, mode="r")[:], zarr.open_array(clean / key, mode="r")[:]
        )
