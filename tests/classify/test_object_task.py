"""One object task: read, cut, measure, and count the truth under each piece."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from volseg.classify import ObjectOptions
from volseg.classify._objects import ObjectTask
from volseg.geometry import Block, Box


@pytest.mark.parametrize("max_voxels", [10**9, 2_000])  # full resolution, and downsampled
def test_truth_counts_on_annotated_slices_are_exact_at_any_resolution(tmp_path, max_voxels):
    shape = (24, 40, 40)
    ids = np.zeros(shape, np.uint8)
    ids[3:21, 10:30, 12:28] = 1  # starts on an odd slice: coarse planes straddle slices
    truth = np.zeros(shape, np.uint8)
    truth[3:21, 10:30, 12:20] = 1
    truth[3:21, 10:30, 20:28] = 2
    truth[7, 10:12, 12:28] = 0  # a little background under the object on slice 7
    components = zarr.create_array(
        tmp_path / "c.zarr", shape=shape, chunks=(8, 20, 20), dtype="uint8"
    )
    components[:] = ids
    gt = zarr.create_array(tmp_path / "t.zarr", shape=shape, chunks=(8, 20, 20), dtype="uint8")
    gt[:] = truth
    image = zarr.create_array(tmp_path / "i.zarr", shape=shape, chunks=(8, 20, 20), dtype="uint8")
    image[:] = 100
    task = ObjectTask(
        components=components,
        image=image,
        voxel_size=(1.0, 1.0, 1.0),
        work=str(tmp_path),
        options=ObjectOptions(max_voxels=max_voxels, split=False),
        truth=gt,
        truth_ids=(0, 1, 2),
        annotated=(0, 7, 20),
    )
    box = Box((3, 10, 12), (21, 30, 28))
    (result,) = task(Block(0, (0,), box), [(1, box)])
    assert (result.factor == (1, 1, 1)) == (max_voxels > 10**6)
    # slice 0 misses the object; slices 7 and 20 hold 20 x 16 voxels each
    assert result.truth_counts.tolist() == [[32, 2 * 160 - 16, 2 * 160 - 16]]
    assert result.features[0]["voxels"] >= ids.sum() * (1 if max_voxels > 10**6 else 0.9)
