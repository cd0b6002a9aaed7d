"""``volseg segment`` as a user runs it (its own process, a local cluster of its own), killed
whole mid-run and resumed, or started twice on one output."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from reliability_runs import LABELS, SHAPE, Inputs, Output, block_of, labels_chunks, labels_key

from volseg.errors import RunLockedError
from volseg.io import VolumeStore
from volseg.runtime import Ledger
from volseg.segment import SegmentResult
from volseg.testing import (
    Fault,
    Faults,
    FaultWrite,
    inject_faults,
    run_volseg,
    volseg_command,
    wait_until,
)

N_BLOCKS = SHAPE[0]
CRASH_AT = 5  # the 5th block write ends the run


@dataclass(frozen=True)
class Crash:
    out: Path
    before: list[FaultWrite]  # the writes of the crashed run
    done: set[int]  # its blocks marked done
    chunks: dict[str, str]  # labels chunks on disk after the crash (key -> sha256)
    resumed: SegmentResult
    again: list[FaultWrite]  # the writes of the resumed run


@pytest.fixture(scope="module")
def crash(inputs: Inputs, tmp_path_factory: pytest.TempPathFactory) -> Crash:
    """A run whose 5th block write is its last: the worker writes it, then after 1 s (time
    to mark the blocks already back) the whole process group dies (SIGKILL, no cleanup);
    then ``--resume`` in this process."""
    root = tmp_path_factory.mktemp("crash")
    out = root / "o.zarr"
    faults = Faults(root / "faults")
    faults.plan(out, Fault("crash-after", LABELS, nth=CRASH_AT, seconds=1.0))
    res = run_volseg(*inputs.cli_args(out), env=faults.env, start_new_session=True)
    assert res.returncode == -9, res.stderr
    before, done = faults.writes(), Ledger(out).done()
    chunks = labels_chunks(out)
    with inject_faults(root / "faults") as watch:
        watch.plan(out, Fault("record", LABELS))
        resumed = inputs.segment(out, resume=True)
        again = watch.writes()
    return Crash(out, before, done, chunks, resumed, again)


def test_resume_recomputes_only_unfinished_blocks(crash: Crash, reference: Output) -> None:
    assert [w.action for w in crash.before] == ["none"] * (CRASH_AT - 1) + ["crash-after"]
    written = {block_of(w.key) for w in crash.before}
    # markers only after data, and the crash came mid-run
    assert crash.done and crash.done < written
    todo = set(range(N_BLOCKS)) - crash.done
    assert Counter(block_of(w.key) for w in crash.again) == Counter(todo)  # each once
    summary = crash.resumed.summary
    assert crash.resumed.ok and (summary.done, summary.skipped) == (len(todo), len(crash.done))
    assert Ledger(crash.out).done() == set(range(N_BLOCKS))
    assert VolumeStore.open(crash.out).complete
    # The crashed run's blocks come from a fresh worker process with one torch thread, the
    # reference's from this process, whose torch started with all cores and was set to one
    # thread: oneDNN primitives made before that can sum in another order, and CI once saw
    # one probability one uint8 step off (labels and their bytes identical; see
    # docs/reliability.md, "What is not promised").
    reference.assert_equal(Output.read(crash.out), probability_steps=1)


def test_a_block_written_but_not_marked_is_recomputed(crash: Crash, reference: Output) -> None:
    last = crash.before[-1]  # written, then the run died before it could mark it
    block = block_of(last.key)
    assert block not in crash.done
    assert crash.chunks[last.key] == last.sha256 == reference.chunks[last.key]
    assert labels_key(block) in {w.key for w in crash.again}


def test_a_second_run_is_refused_while_the_first_runs(
    inputs: Inputs, reference: Output, tmp_path: Path
) -> None:
    out = tmp_path / "o.zarr"
    faults = Faults(tmp_path / "faults")
    # slow writes (0.5 s each) keep the first run going while the second starts
    faults.plan(out, Fault("delay", LABELS, nth=None, seconds=0.5))
    env = {**os.environ, **faults.env}
    with subprocess.Popen(
        volseg_command(*inputs.cli_args(out)), env=env, stderr=subprocess.PIPE, text=True
    ) as first:
        wait_until(lambda: bool(faults.writes()) or first.poll() is not None, 60, "a write")
        with inject_faults(faults.folder):  # this process's writes are watched too
            for second in ({"resume": True}, {"overwrite": True}):
                with pytest.raises(RunLockedError, match=f"pid {first.pid}"):
                    inputs.segment(out, **second)
        assert first.poll() is None  # refused while the first was running
        _, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    writes = faults.writes()
    assert len(writes) == N_BLOCKS and os.getpid() not in {w.pid for w in writes}
    assert Ledger(out).done() == set(range(N_BLOCKS))
    reference.assert_equal(Output.read(out))
