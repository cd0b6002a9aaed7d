"""``reconstruct`` when things go wrong: workers killed, the whole run killed, a full disk, a
second run on the same output. It has no ``--resume``: a run that did not finish leaves
``objects.zarr`` incomplete and no table, and a rerun (``--overwrite``) computes every pass
again, giving the clean run's bytes.

Object ids across worker counts, block shapes and task order:
tests/reconstruct/test_components.py::test_output_does_not_depend_on_blocks_workers_or_task_order.
"""

from __future__ import annotations

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
    write_segmentation,
)

from volseg.errors import BlocksFailedError, RunLockedError, StoreExistsError
from volseg.io import VolumeStore, verify_store
from volseg.reconstruct import OBJECTS_STORE, reconstruct, reconstruct_components
from volseg.reconstruct._components import RETRIES
from volseg.testing import Fault, Faults

pytestmark = pytest.mark.usefixtures("two_workers")

NAME = "soma_objects"
#: Where the passes write, relative to the output folder: block-local ids (label pass),
#: final ids (write pass).
LOCAL = ".volseg-work/provisional/c/*"
FINAL = f"{OBJECTS_STORE}/labels/{NAME}/0/c/*"


def _run(segmented: Path, out: Path, client: object, **options: object):
    return reconstruct_components(
        segmented,
        out,
        classes=["soma"],
        block_shape=CHUNKS,
        client=client,
        progress=False,
        **options,
    )


def _read(out: Path) -> Written:
    return Written.read(out, OBJECTS_STORE, [NAME])


@pytest.fixture(scope="module")
def segmented(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_segmentation(tmp_path_factory.mktemp("segmented") / "seg.zarr")


@pytest.fixture(scope="module")
def reference(segmented: Path, client, tmp_path_factory: pytest.TempPathFactory) -> Written:
    """A clean run: what every faulty run must end with, bit for bit."""
    out = tmp_path_factory.mktemp("reference")
    result = _run(segmented, out, client)
    written = _read(out)
    # not vacuous: 12 somas (4 across chunk borders), and every block writes ids
    assert result.n_objects == 12 and len(written.table) == 12
    assert len(written.chunks) == N_BLOCKS
    return written


def test_a_full_disk_leaves_the_store_incomplete_and_a_rerun_completes_identically(
    segmented: Path, reference: Written, client, faults: Faults, tmp_path: Path
) -> None:
    out = tmp_path / "objects"
    full = f"{OBJECTS_STORE}/labels/{NAME}/0/{chunk_key(5)}"  # block 5's final ids
    faults.plan(out, Fault("enospc", full, nth=None), Fault("record", FINAL))
    with pytest.raises(BlocksFailedError, match=r"1 of \d+ blocks failed .*No space left") as err:
        _run(segmented, out, client)
    assert str(out.resolve() / full) in str(err.value)
    attempts = [w for w in faults.writes() if w.key == full]
    assert [w.action for w in attempts] == ["enospc"] * (RETRIES + 1)
    written = {w.key for w in faults.writes() if w.action == "none"}
    assert len(written) == N_BLOCKS - 1  # the other blocks finished
    store = out / OBJECTS_STORE
    assert not VolumeStore.open(store).complete
    assert not (out / "objects.parquet").exists() and not (out / "objects.csv").exists()
    assert not (store / full.split("/", 1)[1]).exists()
    assert not partial_files(out)
    assert verify_store(store, progress=False).ok  # no torn chunk: every one decodes

    faults.plan(out, Fault("record", FINAL))
    _run(segmented, out, client, overwrite=True)
    assert len(faults.writes()) == N_BLOCKS  # no resume: every block again
    reference.assert_equal(_read(out))


@dataclass(frozen=True)
class Crash:
    out: Path
    returncode: int
    refused: BaseException | None  # what a second run raised while the first ran
    holder: int  # the pid of the crashed run


CLI_BLOCK = ",".join(map(str, CHUNKS))  # the same blocks on the command line
#: The 2nd write of final ids ends the run: the label and merge passes are done, the
#: write pass is under way.
CRASH_AT = 2


@pytest.fixture(scope="module")
def crash(segmented: Path, client, tmp_path_factory: pytest.TempPathFactory) -> Crash:
    """``volseg reconstruct`` as a user runs it (its own process and local cluster), its
    label pass slowed (0.2 s a block) so that a second run tries while it runs; the whole
    process group SIGKILLed 0.5 s after its 2nd write of final ids."""
    root = tmp_path_factory.mktemp("crash")
    out = root / "objects"
    faults = Faults(root / "faults")
    faults.plan(
        out,
        Fault("crash-after", FINAL, nth=CRASH_AT, seconds=0.5),
        Fault("delay", LOCAL, nth=None, seconds=0.2),
    )
    args = ["reconstruct", segmented, "--out", out, "--classes", "soma", "--block", CLI_BLOCK,
            "--no-meshes",
            "--skeletons", "none", "--workers", "1", "--no-progress"]  # fmt: skip
    refused = None
    with watched_run(faults, *args) as process:
        try:
            _run(segmented, out, client, overwrite=True)
        except RunLockedError as exc:
            refused = exc
        process.communicate(timeout=120)
    return Crash(out, process.returncode, refused, process.pid)


def test_a_second_run_is_refused_while_the_first_runs(crash: Crash) -> None:
    assert isinstance(crash.refused, RunLockedError)
    assert f"pid {crash.holder}" in str(crash.refused)


def test_a_crashed_run_is_never_complete_and_a_rerun_gives_the_clean_output(
    crash: Crash, segmented: Path, reference: Written, client
) -> None:
    assert crash.returncode == -9
    store = crash.out / OBJECTS_STORE
    assert not VolumeStore.open(store).complete
    assert not (crash.out / "objects.parquet").exists()
    final = [p for p in (store / "labels" / NAME / "0" / "c").rglob("*") if p.is_file()]
    assert len(final) == CRASH_AT  # killed mid-way through the write pass
    with pytest.raises(StoreExistsError, match="--overwrite"):
        _run(segmented, crash.out, client)  # a crashed output is not taken for finished
    _run(segmented, crash.out, client, overwrite=True)  # the dead run's lock is stale
    reference.assert_equal(_read(crash.out))
    assert not partial_files(crash.out)


def test_a_worker_killed_mid_pass_gives_the_clean_output(
    segmented: Path, reference: Written, client, faults: Faults, tmp_path: Path
) -> None:
    out = tmp_path / "objects"
    # the worker labelling the 3rd block dies as it writes the block's local ids: the
    # pass's collected results (counts, first voxels, moments) come from its rerun
    faults.plan(out, Fault("kill", LOCAL, nth=3), Fault("record", LOCAL))
    result = _run(segmented, out, client)
    writes = faults.writes(LOCAL)
    killed = [w.key for w in writes if w.action == "kill"]
    # at least once: the killed block again, and any finished block whose result the dead
    # worker still held before the runner took it (a race: 0 or 1 more here)
    assert len(killed) == 1 and N_BLOCKS + 1 <= len(writes) <= N_BLOCKS + 2
    assert {w.key for w in writes} == {w.key for w in writes if w.action == "none"}
    first, again = [w for w in writes if w.key == killed[0]][:2]
    assert (first.action, again.action) == ("kill", "none") and again.pid != first.pid
    assert result.n_objects == 12
    reference.assert_equal(_read(out))
    assert not (out / ".volseg-work").exists()


def test_a_run_that_stops_while_exporting_meshes_is_not_complete(
    segmented: Path, client, tmp_path: Path
) -> None:
    """``objects.zarr`` is marked complete after the meshes and skeletons: a run that
    stops while exporting (here the file system refuses the meshes folder: a file holds
    its name) leaves it incomplete, and a rerun with ``overwrite`` completes it."""
    out = tmp_path / "objects"
    out.mkdir()
    (out / "meshes").write_text("not a folder")
    options = {"classes": ["soma"], "block_shape": CHUNKS, "skeletons": "none"}
    with pytest.raises(FileExistsError, match="meshes"):
        reconstruct(segmented, out, client=client, progress=False, **options)
    assert not VolumeStore.open(out / OBJECTS_STORE).complete
    (out / "meshes").unlink()
    result = reconstruct(segmented, out, client=client, progress=False, overwrite=True, **options)
    assert VolumeStore.open(out / OBJECTS_STORE).complete
    meshes = list((out / "meshes").glob("object_*.ply"))
    assert result.export is not None and len(meshes) == result.components.n_objects == 12
