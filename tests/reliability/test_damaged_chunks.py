"""A damaged input chunk fails the blocks that need it, naming the chunk; the others finish,
the output is never marked complete, and ``volseg segment`` exits 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zarr

from volseg.io import VolumeStore, verify_store
from volseg.phantom import PhantomConfig, generate_phantom
from volseg.runtime import Ledger
from volseg.segment import make_segment_config, segment
from volseg.testing import run_volseg, write_tiny_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import numpy as np

    root = tmp_path_factory.mktemp("ckpt")
    return write_tiny_checkpoint(root / "m.pt", np.full((1, 64, 64), 100, dtype=np.uint8))


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    """A (4, 64, 64) phantom, one slice per chunk: one block per chunk, no z halo."""
    config = PhantomConfig(shape=(4, 64, 64), seed=2)
    return generate_phantom(tmp_path / "vol.zarr", config, chunks=(1, 64, 64), progress=False).path


def _segment(volume: Path, checkpoint: Path, out: Path, **kw: object):
    values = {"volume": str(volume), "model": str(checkpoint), "out": str(out), "tile": 32}
    config = make_segment_config(values | {"overlap": 16, "device": "cpu", "retries": 0} | kw)
    return segment(config, progress=False, inline=True)


def _flip(chunk: Path) -> None:
    raw = bytearray(chunk.read_bytes())
    for i in range(len(raw) // 3, len(raw) // 3 + 64):  # 64 flipped bytes, as measured
        raw[i] ^= 0xFF
    chunk.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    "damage",
    [_flip, lambda c: c.write_bytes(c.read_bytes()[: len(c.read_bytes()) // 2])],
    ids=["flipped", "truncated"],
)
def test_a_damaged_image_chunk_fails_its_block_by_key_and_the_others_finish(
    volume: Path, checkpoint: Path, tmp_path: Path, damage
) -> None:
    damage(volume / "0" / "c" / "2" / "0" / "0")
    result = _segment(volume, checkpoint, tmp_path / "o.zarr")
    assert not result.ok
    assert sorted(result.summary.failed) == [2]
    text = result.summary.failed[2]
    assert text.startswith("CorruptChunkError: image chunk c/2/0/0 of ")
    assert str(volume.resolve() / "0") in text and "\n" not in text
    assert sorted(Ledger(result.out).done()) == [0, 1, 3]
    assert not VolumeStore.open(result.out).complete


def test_a_deleted_image_chunk_is_an_error_naming_its_key(
    volume: Path, checkpoint: Path, tmp_path: Path
) -> None:
    (volume / "0" / "c" / "1" / "0" / "0").unlink()
    result = _segment(volume, checkpoint, tmp_path / "o.zarr")
    assert sorted(result.summary.failed) == [1]
    assert "MissingChunkError: image chunk c/1/0/0 of " in (result.summary.failed[1])
    assert "--fill-missing" in result.summary.failed[1]


def test_fill_missing_runs_and_is_recorded_in_provenance_and_ledger(
    volume: Path, checkpoint: Path, tmp_path: Path
) -> None:
    (volume / "0" / "c" / "1" / "0" / "0").unlink()
    result = _segment(volume, checkpoint, tmp_path / "o.zarr", fill_missing=True)
    assert result.ok and result.summary.failed == {}
    prov = zarr.open_group(result.out, mode="r").attrs["volseg"]["provenance"]
    assert prov["config"]["fill_missing"] is True
    assert prov["config"]["run"]["fill_missing"] is True
    stored = Ledger(result.out).stored()
    assert stored is not None and stored["layout"]["fill_missing"] is True


def test_the_cli_exits_1_naming_the_corrupt_chunk(
    volume: Path, checkpoint: Path, tmp_path: Path
) -> None:
    _flip(volume / "0" / "c" / "3" / "0" / "0")
    out = tmp_path / "o.zarr"
    res = run_volseg("segment", volume, "--model", checkpoint, "--out", out, "--tile", "32",
                     "--overlap", "16", "--device", "cpu", "--retries", "0", "--workers", "1",
                     "--threads", "1", "--no-progress", "--json")  # fmt: skip
    assert res.returncode == 1, res.stderr
    summary = json.loads(res.stdout)
    assert summary["ok"] is False and list(summary["blocks"]["failed"]) == ["3"]
    assert "image chunk c/3/0/0 of " in summary["blocks"]["failed"]["3"]
    assert "checksum mismatch" in summary["blocks"]["failed"]["3"]
    assert not VolumeStore.open(out).complete


def test_every_array_of_a_segmentation_output_carries_crc32c(
    volume: Path, checkpoint: Path, tmp_path: Path
) -> None:
    out = _segment(volume, checkpoint, tmp_path / "o.zarr", probabilities="uint8", uncertainty=True)
    arrays = {}
    for meta in out.out.rglob("zarr.json"):
        node = json.loads(meta.read_text())
        if node["node_type"] == "array":
            arrays[meta.parent.relative_to(out.out).as_posix()] = [
                c["name"] for c in node["codecs"]
            ]
    assert {"0", "labels/segmentation/0", "probabilities", "uncertainty"} <= set(arrays)
    assert all(codecs[-1] == "crc32c" for codecs in arrays.values()), arrays
    report = verify_store(out.out, progress=False)
    assert report.ok and report.arrays == len(arrays)  # the run state is not an array
    _flip(next((out.out / "probabilities" / "c").rglob("*/*/*/*")))
    damaged = verify_store(out.out, progress=False).damaged
    assert [(d.array, d.problem, d.detail) for d in damaged] == [
        ("probabilities", "corrupt", "checksum mismatch")
    ]
