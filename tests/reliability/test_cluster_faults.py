"""Faults in the dask worker processes of a run (a LocalCluster of 2 worker processes whose
nannies replace a killed worker): killed workers, a poison block, one block run twice at
once, a full disk. Every run ends with the clean run's bytes, or names what it could not do.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import dask
import pytest
from reliability_runs import LABELS, SHAPE, Inputs, Output, block_of, dead, labels_key

from volseg.io import VolumeStore, verify_store
from volseg.runtime import Ledger
from volseg.segment import SegmentBlock, resolve_run
from volseg.testing import Fault, Faults

pytestmark = pytest.mark.usefixtures("two_workers")

N_BLOCKS = SHAPE[0]


def test_three_worker_kills_give_the_clean_output(
    inputs: Inputs, reference: Output, client, faults: Faults, tmp_path: Path
) -> None:
    out = tmp_path / "o.zarr"
    # the 2nd, 4th and 6th block write kill the worker writing it (SIGKILL, mid-block)
    faults.plan(out, Fault("kill", LABELS, nth=(2, 4, 6)))
    result = inputs.segment(out, client=client)
    kills = [w for w in faults.writes() if w.action == "kill"]
    assert len(kills) == 3 and len({w.pid for w in kills}) == 3
    assert all(dead(w.pid) for w in kills)
    assert result.ok and result.summary.done == N_BLOCKS
    assert Ledger(out).done() == set(range(N_BLOCKS))
    assert VolumeStore.open(out).complete
    reference.assert_equal(Output.read(out))


@pytest.fixture(scope="module")
def poisoned(inputs: Inputs, client, faults: Faults, tmp_path_factory: pytest.TempPathFactory):
    """A run whose last block kills every worker that writes it."""
    client.wait_for_workers(2, timeout=60)
    out = tmp_path_factory.mktemp("poison") / "o.zarr"
    poison = N_BLOCKS - 1
    faults.plan(out, Fault("kill", labels_key(poison), nth=None), Fault("record", LABELS))
    result = inputs.segment(out, client=client, retries=2)
    return out, poison, result, faults.writes()


def test_a_poison_block_is_tried_a_bounded_number_of_times(poisoned, client) -> None:
    out, poison, result, writes = poisoned
    attempts = [w for w in writes if w.key == labels_key(poison)]
    # dask gives up on a task whose workers died allowed-failures + 1 times; retries
    # (for errors a block raises) do not multiply it
    bound = dask.config.get("distributed.scheduler.allowed-failures") + 1
    assert len(attempts) == bound and all(w.action == "kill" for w in attempts)
    assert len({w.pid for w in attempts}) == bound
    assert list(result.summary.failed) == [poison]
    assert result.summary.failed[poison].startswith("KilledWorker: ")
    assert result.summary.done == N_BLOCKS - 1
    assert Ledger(out).done() == set(range(N_BLOCKS - 1))
    assert not VolumeStore.open(out).complete
    client.wait_for_workers(2, timeout=60)  # the cluster survives it


def test_a_finished_block_is_not_computed_again_when_a_worker_dies(poisoned) -> None:
    _, poison, _, writes = poisoned
    again = Counter(w.key for w in writes if w.key != labels_key(poison))
    assert again == Counter(labels_key(z) for z in range(N_BLOCKS - 1))


def test_one_block_twice_at_once_writes_identical_bytes(
    inputs: Inputs, reference: Output, client, faults: Faults, tmp_path: Path
) -> None:
    out = tmp_path / "o.zarr"
    assert inputs.segment(out).ok
    block = 3
    chunk = out / labels_key(block)
    run, _ = resolve_run(inputs.config(out), VolumeStore.open(inputs.volume))
    fn = SegmentBlock(run, str(out.resolve()))

    def on_each_worker() -> None:
        client.gather(
            [
                client.submit(fn, run.grid.block(block), pure=False, workers=[w])
                for w in client.nthreads()
            ]
        )

    on_each_worker()  # warm: each worker has its model, so the two runs below start together
    chunk.unlink()
    # each execution waits 0.5 s just before its write: both are in flight together
    faults.plan(out, Fault("delay", LABELS, nth=None, seconds=0.5))
    on_each_worker()
    writes = faults.writes()
    assert [w.key for w in writes] == [labels_key(block)] * 2
    assert writes[0].pid != writes[1].pid  # two worker processes
    assert abs(writes[0].time - writes[1].time) < 0.5  # their delays overlapped
    assert writes[0].sha256 == writes[1].sha256 == reference.chunks[labels_key(block)]
    reference.assert_equal(Output.read(out))
    assert verify_store(out, progress=False).ok
    assert not [p for p in out.rglob("*") if p.name.endswith(".partial")]


def test_a_full_disk_tears_no_chunk_and_resume_completes(
    inputs: Inputs, reference: Output, client, faults: Faults, tmp_path: Path
) -> None:
    out = tmp_path / "o.zarr"
    torn = 3
    # block 3 writes its labels, then the disk is full for its class-1 probabilities
    probs = f"probabilities/c/1/{torn}/0/0"
    faults.plan(out, Fault("enospc", probs), Fault("record", "*/c/*"))
    result = inputs.segment(out, client=client)
    assert list(result.summary.failed) == [torn]
    assert result.summary.failed[torn].startswith("OSError: [Errno 28] No space left on device")
    assert str(out.resolve() / probs) in result.summary.failed[torn]
    written = {w.key for w in faults.writes() if w.action == "none"}
    assert labels_key(torn) in written  # the block was half written ...
    assert Ledger(out).done() == set(range(N_BLOCKS)) - {torn}  # ... and is not done
    assert not (out / probs).exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".partial")]
    assert verify_store(out, progress=False).ok  # every chunk on disk decodes
    assert not VolumeStore.open(out).complete

    faults.plan(out, Fault("record", "*/c/*"))
    resumed = inputs.segment(out, client=client, resume=True)
    assert resumed.ok and (resumed.summary.done, resumed.summary.skipped) == (1, N_BLOCKS - 1)
    assert {block_of(w.key) for w in faults.writes()} == {torn}  # only the torn block again
    assert VolumeStore.open(out).complete
    reference.assert_equal(Output.read(out))
