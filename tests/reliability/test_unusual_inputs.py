"""Inputs and plans at the edges: non-finite, constant and all-zero volumes; a block plan
that would give a chunk two writers; output chunks damaged on their way to disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reliability_runs import SHAPE, Inputs, Output, labels_key

from volseg.errors import GeometryError
from volseg.io import VolumeStore, open_labels, open_volume, verify_store
from volseg.runtime import Ledger
from volseg.testing import Fault, inject_faults

N_BLOCKS = SHAPE[0]
NAN_AT, INF_AT = (2, 10, 20), (5, 40, 7)


def _float_volume(path: Path, data: np.ndarray) -> Path:
    store = VolumeStore.create(path, shape=data.shape, dtype="float32", chunks=(1, 64, 64))
    store.image(0)[:] = data
    store.mark_complete()
    return path


@pytest.mark.parametrize("kind", ["nan-inf", "constant", "zero"])
def test_non_finite_constant_and_zero_volumes(
    inputs: Inputs, reference: Output, tmp_path: Path, kind: str
) -> None:
    image = open_volume(inputs.volume).values.astype(np.float32)  # the reference's voxels
    if kind == "nan-inf":
        image[NAN_AT], image[INF_AT] = np.nan, -np.inf
    else:
        image[...] = 100.0 if kind == "constant" else 0.0
    volume = Inputs(_float_volume(tmp_path / "v.zarr", image), inputs.model)
    out = tmp_path / "o.zarr"
    result = volume.segment(out)
    labels = open_labels(out, "segmentation", allow_incomplete=True).values
    if kind == "nan-inf":  # the blocks holding them fail naming the voxel; the rest are right
        assert sorted(result.summary.failed) == [NAN_AT[0], INF_AT[0]]
        for z, at in ((NAN_AT[0], NAN_AT), (INF_AT[0], INF_AT)):
            text = result.summary.failed[z]
            assert text.startswith("InputError: ") and "\n" not in text
            assert f"non-finite input value at voxel (z, y, x) = {at}" in text
        done = set(range(N_BLOCKS)) - {NAN_AT[0], INF_AT[0]}
        assert Ledger(out).done() == done and not VolumeStore.open(out).complete
        for z in done:
            np.testing.assert_array_equal(labels[z], reference.labels[z])
        return
    # every tile skipped as empty: background, which is never stored, and yet done
    assert result.ok and VolumeStore.open(out).complete
    assert Ledger(out).done() == set(range(N_BLOCKS))
    stats = result.summary.stats_sum
    assert stats["tiles"] == 0 and stats["skipped_tiles"] > 0
    assert not labels.any()
    stored = (out / "labels" / "segmentation" / "0" / "c").rglob("*")
    assert not [p for p in stored if p.is_file()]
    if kind == "constant":  # run through the model: valid probabilities, not NaN
        forced = volume.segment(tmp_path / "forced.zarr", skip="none")
        assert forced.ok and forced.summary.stats_sum["tiles"] > 0
        sums = Output.read(forced.out).probabilities.astype(int).sum(axis=0)
        assert np.abs(sums - 255).max() <= 2


def test_a_misaligned_block_plan_is_refused_before_any_write(
    inputs: Inputs, tmp_path: Path
) -> None:
    out = tmp_path / "o.zarr"
    with pytest.raises(GeometryError) as info:
        inputs.segment(out, block_shape=(1, 48, 64))  # chunks are (1, 64, 64)
    text = str(info.value)
    assert "block size 48 on axis y is not a multiple of the chunk size 64" in text
    assert "two blocks would write one chunk" in text and "use 64" in text
    assert not out.exists()


def test_output_chunks_damaged_on_the_way_to_disk_are_named(inputs: Inputs, tmp_path: Path) -> None:
    out = tmp_path / "o.zarr"
    with inject_faults(tmp_path / "faults") as faults:
        # a disk that reports success for a torn write and for flipped bytes
        faults.plan(out, Fault("truncate", labels_key(1)), Fault("corrupt", labels_key(6)))
        result = inputs.segment(out)
        assert [w.action for w in faults.writes()] == ["truncate", "corrupt"]
    assert result.ok  # nothing the run could see ...
    damaged = verify_store(out, progress=False).damaged  # ... but the checksums can
    assert [(d.array, d.key, d.problem) for d in damaged] == [
        ("labels/segmentation/0", "c/1/0/0", "corrupt"),
        ("labels/segmentation/0", "c/6/0/0", "corrupt"),
    ]
    assert damaged[1].detail == "checksum mismatch"
