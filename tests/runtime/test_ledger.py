"""Ledger: layout hash round trip, resume checks, atomic done markers, reset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zarr

from volseg.errors import ConfigError, ResumeMismatchError, RunStateExistsError
from volseg.runtime import RUN_DIR, Ledger, layout_hash

LAYOUT = {
    "shape": [64, 512, 512],
    "chunks": [16, 256, 256],
    "block": [16, 512, 512],
    "config": {"tile": 256, "overlap": 0.25},
    "weights": "ab12",
}


def test_hash_is_canonical_and_stored_with_the_layout(tmp_path: Path) -> None:
    reordered = dict(reversed(list(LAYOUT.items())))
    assert layout_hash(reordered) == layout_hash(LAYOUT)
    assert layout_hash({**LAYOUT, "weights": "ab13"}) != layout_hash(LAYOUT)
    ledger = Ledger(tmp_path / "out.zarr")
    assert ledger.start(LAYOUT, resume=False) == set()
    stored = json.loads((tmp_path / "out.zarr" / RUN_DIR / "ledger.json").read_text())
    assert stored["layout"] == LAYOUT
    assert stored["hash"] == layout_hash(LAYOUT)


def test_marks_round_trip_through_a_resume(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.start(LAYOUT, resume=False)
    ledger.mark_done(3, {"voxels": 10})
    ledger.mark_done(0)
    assert ledger.is_done(3) and not ledger.is_done(1)
    again = Ledger(tmp_path)
    assert again.start(dict(reversed(list(LAYOUT.items()))), resume=True) == {0, 3}
    assert again.done() == {0, 3}
    assert again.stats(3) == {"voxels": 10}
    # markers are written via temp files: none is left behind
    assert sorted(p.name for p in again.done_dir.iterdir()) == ["0", "3"]


def test_resume_with_changed_keys_lists_them(tmp_path: Path) -> None:
    Ledger(tmp_path).start(LAYOUT, resume=False)
    changed = {**LAYOUT, "chunks": [16, 128, 128], "config": {"tile": 512, "overlap": 0.25}}
    del changed["weights"]
    with pytest.raises(ResumeMismatchError) as err:
        Ledger(tmp_path).start(changed, resume=True)
    assert "chunks, config.tile, weights" in str(err.value)
    assert isinstance(err.value, ValueError)


def test_an_existing_ledger_needs_resume_or_reset(tmp_path: Path) -> None:
    first = Ledger(tmp_path)
    first.start(LAYOUT, resume=False)
    first.mark_done(5)
    with pytest.raises(RunStateExistsError, match="1 blocks done"):
        Ledger(tmp_path).start(LAYOUT, resume=False)
    fresh = Ledger(tmp_path)
    fresh.reset()
    assert fresh.start(LAYOUT, resume=False) == set()
    assert fresh.done() == set()


def test_resume_without_a_ledger_starts_afresh(tmp_path: Path) -> None:
    assert Ledger(tmp_path).start(LAYOUT, resume=True) == set()


def test_layout_must_be_plain_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="plain JSON"):
        Ledger(tmp_path).start({"bad": float("nan")}, resume=False)
    with pytest.raises(ConfigError, match="plain JSON"):
        Ledger(tmp_path).start({"bad": object()}, resume=False)


def test_the_run_folder_is_invisible_to_zarr_metadata(tmp_path: Path) -> None:
    group = zarr.open_group(tmp_path / "out.zarr", mode="w", zarr_format=3)
    group.create_array("0", shape=(4, 4), chunks=(2, 2), dtype="uint8")
    Ledger(tmp_path / "out.zarr").start(LAYOUT, resume=False)
    reopened = zarr.open_group(tmp_path / "out.zarr", mode="r")
    assert RUN_DIR not in reopened
    assert reopened["0"].shape == (4, 4)
