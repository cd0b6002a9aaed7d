"""The fault fixtures themselves, on a plain zarr array in this process: each action does
what it says, on the write it names, and every watched write is logged."""

from __future__ import annotations

import errno
import time
from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.codecs import BytesCodec, Crc32cCodec

from volseg.testing import Fault, inject_faults


def _array(path: Path) -> zarr.Array:
    """(4, 8) uint8 in (1, 8) chunks, checksummed: chunk ``c/i/0`` is row i."""
    return zarr.create_array(
        path, shape=(4, 8), chunks=(1, 8), dtype="uint8", fill_value=0,
        serializer=BytesCodec(), compressors=[Crc32cCodec()], filters=None, zarr_format=3,
    )  # fmt: skip


def test_each_action_hits_the_nth_matching_write(tmp_path: Path) -> None:
    data = np.arange(1, 33, dtype=np.uint8).reshape(4, 8)
    outside = _array(tmp_path / "outside.zarr")
    with inject_faults(tmp_path / "faults") as faults:
        array = _array(tmp_path / "a.zarr")
        faults.plan(
            tmp_path / "a.zarr",
            Fault("truncate", "c/*", nth=1),
            Fault("corrupt", "c/*", nth=2),
            Fault("drop", "c/*", nth=3),
            Fault("record", "*"),
        )
        for row in range(4):
            array[row] = data[row]
        outside[:] = data  # not under the plan's root: plain writes, not logged
        writes = faults.writes()
        assert [(w.key, w.action) for w in writes] == [
            ("c/0/0", "truncate"), ("c/1/0", "corrupt"), ("c/2/0", "drop"), ("c/3/0", "none"),
        ]  # fmt: skip
        assert faults.writes("c/3/*") == writes[3:]
    folder = tmp_path / "a.zarr" / "c"
    assert (folder / "0" / "0").stat().st_size == (8 + 4) // 2  # half of data + checksum
    assert not (folder / "2" / "0").exists()
    fresh = zarr.open_array(tmp_path / "a.zarr", mode="r")
    for row in (0, 1):  # torn and flipped: the checksum refuses both
        with pytest.raises(ValueError, match="checksum do not match"):
            fresh[row]
    np.testing.assert_array_equal(fresh[2:], [[0] * 8, data[3]])
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "outside.zarr")[:], data)


def test_enospc_stores_nothing_and_delay_waits(tmp_path: Path) -> None:
    with inject_faults(tmp_path / "faults") as faults:
        array = _array(tmp_path / "a.zarr")
        faults.plan(
            tmp_path / "a.zarr", Fault("enospc", "c/1/*"), Fault("delay", "c/2/*", seconds=0.3)
        )
        array[0] = 1
        with pytest.raises(OSError, match="No space left on device") as info:
            array[1] = 2
        assert info.value.errno == errno.ENOSPC
        start = time.monotonic()
        array[2] = 3
        assert time.monotonic() - start >= 0.3
        array[1] = 2  # only the first write to c/1 failed
    assert [w.action for w in faults.writes()] == ["enospc", "delay", "none"]
    assert not list((tmp_path / "a.zarr").rglob("*.partial"))
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "a.zarr")[:3, 0], [1, 2, 3])


def test_a_crash_is_refused_in_the_process_group_of_the_test(tmp_path: Path) -> None:
    with inject_faults(tmp_path / "faults") as faults:
        array = _array(tmp_path / "a.zarr")
        faults.plan(tmp_path / "a.zarr", Fault("crash-after", "*"))
        with pytest.raises(RuntimeError, match="new session"):
            array[0] = 1
    array[0] = 1  # outside the context: plain writes again
