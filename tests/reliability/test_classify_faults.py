"""``classify`` when things go wrong: workers killed, the whole run killed and resumed, a
full disk, a second run on the same output. Its output blocks run through the block runner
(run lock, done ledger, ``--resume``, completeness marked last), as ``volseg segment``'s do:
every run ends with the clean run's bytes, or leaves ``classified.zarr`` incomplete.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from object_runs import (
    CHUNKS,
    N_BLOCKS,
    Written,
    chunk_key,
    partial_files,
    watched_run,
    write_classifier,
    write_segmentation,
)
from reliability_runs import dead

from volseg.classify import CLASSIFIED, CLASSIFIED_STORE, INSTANCES, ClassifyResult, classify
from volseg.errors import RunLockedError
from volseg.io import VolumeStore, verify_store
from volseg.runtime import Ledger
from volseg.testing import Fault, Faults, FaultWrite

pytestmark = pytest.mark.usefixtures("two_workers")

#: Where a block writes, relative to the output folder: object ids, then classes.
OBJECTS = f"{CLASSIFIED_STORE}/labels/{INSTANCES}/0/c/*"
CLASSES = f"{CLASSIFIED_STORE}/labels/{CLASSIFIED}/0/c/*"
BLOCKS = f"{CLASSIFIED_STORE}/labels/*/0/c/*"
#: The block-local ids of the components pass of measuring the objects (a work array).
LOCAL = ".volseg-work/provisional/c/*"


def block_of(key: str) -> int:
    """The block of a chunk key of the outputs (one chunk per block, C order)."""
    z, y, x = (int(i) for i in key.split("/c/")[1].split("/"))
    return z * 4 + y * 2 + x


@dataclass(frozen=True)
class Inputs:
    segmented: Path
    classifier: Path

    def run(self, out: Path, client: object, **options: object) -> ClassifyResult:
        return classify(
            self.segmented, self.classifier, out, block_shape=CHUNKS, client=client,
            progress=False, **options,
        )  # fmt: skip


def _read(out: Path) -> Written:
    return Written.read(out, CLASSIFIED_STORE, [CLASSIFIED, INSTANCES])


@pytest.fixture(scope="module")
def inputs(client, tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    root = tmp_path_factory.mktemp("inputs")
    segmented = write_segmentation(root / "seg.zarr")
    return Inputs(segmented, write_classifier(root / "c.vsclf", segmented, client))


@pytest.fixture(scope="module")
def reference(inputs: Inputs, client, tmp_path_factory: pytest.TempPathFactory) -> Written:
    """A clean run: what every faulty run must end with, bit for bit."""
    out = tmp_path_factory.mktemp("reference")
    result = inputs.run(out, client)
    assert result.ok
    written = _read(out)
    # not vacuous: 13 objects (4 across chunk borders), both classes, every block writes
    assert len(written.table) == 13 and set(written.table["class"]) == {"soma", "vessel"}
    assert len(written.chunks) == 2 * N_BLOCKS
    return written


def test_a_full_disk_leaves_the_store_incomplete_and_resume_completes_identically(
    inputs: Inputs, reference: Written, client, faults: Faults, tmp_path: Path
) -> None:
    out = tmp_path / "classified"
    torn = 5
    full = f"{CLASSIFIED_STORE}/labels/{CLASSIFIED}/0/{chunk_key(torn)}"
    # the disk stays full for block 5's classes, after its object ids were written
    faults.plan(out, Fault("enospc", full, nth=None), Fault("record", BLOCKS))
    result = inputs.run(out, client)
    assert not result.ok and list(result.summary.failed) == [torn]
    error = result.summary.failed[torn]
    assert error.startswith("OSError: [Errno 28] No space left on device")
    assert str(out.resolve() / full) in error and "\n" not in error
    attempts = [w.action for w in faults.writes() if w.key == full]
    assert attempts == ["enospc"] * 3  # the block's 2 retries
    store = out / CLASSIFIED_STORE
    assert any(block_of(w.key) == torn and w.action == "none" for w in faults.writes())
    assert Ledger(store).done() == set(range(N_BLOCKS)) - {torn}  # half written: not done
    assert not VolumeStore.open(store).complete
    assert not (out / "objects.parquet").exists() and not (out / "objects.csv").exists()
    assert not (store / full.split("/", 1)[1]).exists()
    assert not partial_files(out)
    assert verify_store(store, progress=False).ok  # no torn chunk: every one decodes

    faults.plan(out, Fault("record", BLOCKS))
    resumed = inputs.run(out, client, resume=True)
    assert resumed.ok and (resumed.summary.done, resumed.summary.skipped) == (1, N_BLOCKS - 1)
    assert {block_of(w.key) for w in faults.writes()} == {torn}  # only the torn block again
    reference.assert_equal(_read(out))


@dataclass(frozen=True)
class Crash:
    out: Path
    returncode: int
    refused: list[BaseException]  # what second runs raised while the first ran
    holder: int  # the pid of the crashed run
    complete: bool  # whether its store was marked complete
    before: list[FaultWrite]  # the crashed run's block writes
    done: set[int]  # its blocks marked done
    resumed: ClassifyResult
    again: list[FaultWrite]  # the resumed run's block writes


CLI_BLOCK = ",".join(map(str, CHUNKS))  # the same blocks on the command line
#: The 3rd block's classes are the crashed run's last write.
CRASH_AT = 3


@pytest.fixture(scope="module")
def crash(
    inputs: Inputs, client, faults: Faults, tmp_path_factory: pytest.TempPathFactory
) -> Crash:
    """``volseg classify`` as a user runs it (its own process and local cluster of one
    worker), its components pass slowed (0.2 s a block) so that second runs try while it
    runs; the whole process group SIGKILLed 0.5 s after its 3rd block's classes are
    written; then ``resume`` in this process."""
    root = tmp_path_factory.mktemp("crash")
    out = root / "classified"
    crashing = Faults(root / "faults")
    crashing.plan(
        out,
        Fault("crash-after", CLASSES, nth=CRASH_AT, seconds=0.5),
        Fault("delay", LOCAL, nth=None, seconds=0.2),
        Fault("record", BLOCKS),
    )
    args = ["classify", inputs.segmented, "--classifier", inputs.classifier, "--out", out,
            "--block", CLI_BLOCK, "--workers", "1", "--no-progress"]  # fmt: skip
    refused: list[BaseException] = []
    with watched_run(crashing, *args) as process:
        for second in ({"resume": True}, {"overwrite": True}):
            try:
                inputs.run(out, client, **second)
            except RunLockedError as exc:
                refused.append(exc)
        process.communicate(timeout=120)
    before = crashing.writes(BLOCKS)
    done = Ledger(out / CLASSIFIED_STORE).done()
    complete = VolumeStore.open(out / CLASSIFIED_STORE).complete
    faults.plan(out, Fault("record", BLOCKS))  # the resumed run's writes, in the workers
    resumed = inputs.run(out, client, resume=True)
    return Crash(
        out, process.returncode, refused, process.pid, complete, before, done, resumed,
        faults.writes(),
    )  # fmt: skip


def test_a_second_run_is_refused_while_the_first_runs(crash: Crash) -> None:
    assert len(crash.refused) == 2
    assert all(f"pid {crash.holder}" in str(e) for e in crash.refused)


def test_a_crashed_run_is_never_complete_and_resume_gives_the_clean_output(
    crash: Crash, reference: Written
) -> None:
    assert crash.returncode == -9 and not crash.complete
    assert [w.action for w in crash.before if w.action != "none"] == ["crash-after"]
    written = {block_of(w.key) for w in crash.before}
    last = block_of(crash.before[-1].key)
    # markers only after data, the last block written was never marked, and the crash
    # came mid-run
    assert crash.done and last not in crash.done and crash.done < written
    assert len(written) == CRASH_AT
    todo = set(range(N_BLOCKS)) - crash.done
    assert Counter(block_of(w.key) for w in crash.again) == Counter(
        {b: 2 for b in todo}  # object ids and classes of each block not done, once
    )
    summary = crash.resumed.summary
    assert crash.resumed.ok and (summary.done, summary.skipped) == (len(todo), len(crash.done))
    reference.assert_equal(_read(crash.out))


def test_a_worker_killed_mid_block_gives_the_clean_output(
    inputs: Inputs, reference: Written, client, faults: Faults, tmp_path: Path
) -> None:
    out = tmp_path / "classified"
    # the worker writing the 3rd block's classes dies (its object ids are on disk
    # already); workers killed in the components passes: test_reconstruct_faults.py
    faults.plan(out, Fault("kill", CLASSES, nth=3), Fault("record", BLOCKS))
    result = inputs.run(out, client)
    kills = [w for w in faults.writes() if w.action == "kill"]
    assert len(kills) == 1 and dead(kills[0].pid)
    killed = block_of(kills[0].key)
    assert [w.action for w in faults.writes(OBJECTS) if block_of(w.key) == killed] == ["none"] * 2
    assert result.ok and result.summary.done == N_BLOCKS
    assert Ledger(out / CLASSIFIED_STORE).done() == set(range(N_BLOCKS))
    reference.assert_equal(_read(out))
