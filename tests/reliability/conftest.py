"""The reliability suite: what ``volseg segment`` (and ``reconstruct``, ``classify`` and the
studies, below) promise when things go wrong, one test per property, with faults injected
into real runs (a real zarr store on disk, real dask worker processes, the real tiny model;
the fault fixtures are in :mod:`volseg.testing`).

Property → test (files in tests/reliability/ unless a path is given):

- tiled = untiled (an exact model, awkward shapes, three windows):
  test_exact_tiling.py::test_tiled_blocks_equal_one_tile_per_slice;
  labels independent of block shape and worker count:
  tests/segment/test_segment.py::test_labels_do_not_depend_on_blocks_or_workers
- a worker SIGKILLed 3 times → output bit-identical to a clean run:
  test_cluster_faults.py::test_three_worker_kills_give_the_clean_output;
  one kill mid-block on an external cluster without nannies:
  tests/segment/test_segment_worker_loss.py
- crash (the whole run SIGKILLed) + resume recomputes only unfinished blocks:
  test_crash_resume.py::test_resume_recomputes_only_unfinished_blocks
- data written but its done marker lost → recomputed:
  test_crash_resume.py::test_a_block_written_but_not_marked_is_recomputed
- the same block executed twice at once → identical bytes, no torn chunk:
  test_cluster_faults.py::test_one_block_twice_at_once_writes_identical_bytes
- a misaligned block plan refused before any write:
  test_unusual_inputs.py::test_a_misaligned_block_plan_is_refused_before_any_write
- corrupt, truncated and missing input chunks named, their blocks not marked done:
  test_damaged_chunks.py; output chunks torn or corrupted on their way to disk named by
  ``volseg verify``: test_unusual_inputs.py::test_output_chunks_damaged_on_the_way_to_disk_are_named
- NaN / Inf / constant / zero inputs:
  test_unusual_inputs.py::test_non_finite_constant_and_zero_volumes
- wrong dtype / shape / axes / channels refused before any write: test_refused_inputs.py
- ENOSPC on the n-th write → no torn chunk, resume completes identically:
  test_cluster_faults.py::test_a_full_disk_tears_no_chunk_and_resume_completes
- a second run refused by the lock while the first runs:
  test_crash_resume.py::test_a_second_run_is_refused_while_the_first_runs;
  the lock itself (stale, other host, reused pid): tests/runtime/test_lock.py
- a poison block (it kills every worker that runs it) tried a bounded number of times:
  test_cluster_faults.py::test_a_poison_block_is_tried_a_bounded_number_of_times;
  a block that raises, retried ``retries`` times: tests/runtime/test_run.py
- an OS error ends in one line and exit 1: test_one_line_failures.py; the driver's own
  write refused, the scheduler lost, every worker gone: the summary so far, one line,
  ``--resume`` completes: test_lost_runs.py; a write refused after the last block (the
  pyramid): the summary kept, ``--resume`` finishes: test_finish_refused.py
- a finished block is not computed again when the worker holding its result dies:
  test_cluster_faults.py::test_a_finished_block_is_not_computed_again_when_a_worker_dies

``reconstruct`` (no ``--resume``: an unfinished run is rerun with ``--overwrite``), in
test_reconstruct_faults.py unless a path is given:

- object ids (labels and table) identical across worker counts, block shapes and task order:
  tests/reconstruct/test_components.py::test_output_does_not_depend_on_blocks_workers_or_task_order
- a worker SIGKILLed mid-pass → the clean run's bytes:
  test_a_worker_killed_mid_pass_gives_the_clean_output
- crash (the whole run SIGKILLed) → ``objects.zarr`` never complete, no table; a rerun gives
  the clean output: test_a_crashed_run_is_never_complete_and_a_rerun_gives_the_clean_output
- ENOSPC on an output write → not complete, no torn chunk, the rerun completes identically:
  test_a_full_disk_leaves_the_store_incomplete_and_a_rerun_completes_identically
- a second run refused by the lock while the first runs (another process):
  test_a_second_run_is_refused_while_the_first_runs; through meshes and skeletons:
  tests/reconstruct/test_reconstruct_run.py::test_the_lock_is_held_through_meshes_and_skeletons
- a run that stops while exporting meshes leaves ``objects.zarr`` incomplete:
  test_a_run_that_stops_while_exporting_meshes_is_not_complete

``classify``, in test_classify_faults.py:

- a worker SIGKILLed mid-block → the clean run's bytes:
  test_a_worker_killed_mid_block_gives_the_clean_output
- crash + ``--resume`` → never complete before, only unfinished blocks again, the clean
  output: test_a_crashed_run_is_never_complete_and_resume_gives_the_clean_output
- ENOSPC on the n-th write of a block → that block not done, the store not complete, no torn
  chunk; resume completes identically:
  test_a_full_disk_leaves_the_store_incomplete_and_resume_completes_identically
- a second run (resume or overwrite) refused by the lock while the first runs:
  test_a_second_run_is_refused_while_the_first_runs

The studies (``volseg study crops``; ``study tiles`` writes no store and runs no blocks),
in test_study_faults.py:

- killed whole mid-run, then run again → finished runs kept, the uninterrupted study's
  table: test_a_killed_study_resumed_gives_the_uninterrupted_table
- ENOSPC while a run writes its result → that run fails in one line, the rerun completes
  with the uninterrupted table: test_a_full_disk_fails_one_run_in_one_line_and_a_rerun_completes

Strict reads (damaged input chunks) in reconstruct, classify, evaluate, train and the
studies: test_strict_reads_jobs.py.

Known gap. torch's thread count changes float sums: a run in this process with all cores
and one in a dask worker (one thread) differ by one uint8 probability step in a few voxels,
so the tests here run torch with one thread (``worker_threads``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from reliability_runs import SHAPE, Inputs, Output, labels_key

from volseg.io import open_volume
from volseg.phantom import PhantomConfig, generate_phantom
from volseg.testing import Faults, inject_faults, write_tiny_checkpoint


@contextlib.contextmanager
def _worker_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def worker_threads() -> Iterator[None]:
    """torch in this process with one thread, as in a dask worker (its nanny sets
    OMP_NUM_THREADS=1), so that inline and cluster runs compare bit for bit: with another
    thread count, float sums in another order move a probability by one uint8 step."""
    with _worker_threads():
        yield


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    root = tmp_path_factory.mktemp("reliability")
    config = PhantomConfig(shape=SHAPE, seed=2)
    volume = generate_phantom(root / "vol.zarr", config, chunks=(1, 64, 64), progress=False).path
    model = write_tiny_checkpoint(root / "model.pt", open_volume(volume).values)
    return Inputs(volume, model)


@pytest.fixture(scope="session")
def reference(inputs: Inputs, tmp_path_factory: pytest.TempPathFactory) -> Output:
    """A clean run (inline): what every faulty run must end with, bit for bit."""
    with _worker_threads():
        result = inputs.segment(tmp_path_factory.mktemp("reference") / "clean.zarr")
    assert result.ok
    output = Output.read(result.out)
    # not vacuous: every class occurs, and every block stores its labels chunk
    assert set(np.unique(output.labels)) == {0, 1, 2}
    assert sorted(output.chunks) == [labels_key(z) for z in range(SHAPE[0])]
    return output


@pytest.fixture(scope="module")
def faults(client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faults]:
    """Faults in every worker of the module's cluster (and in workers that replace them)."""
    with inject_faults(tmp_path_factory.mktemp("faults"), client=client) as planned:
        yield planned


@pytest.fixture
def two_workers(client) -> None:
    """Both workers of the module's cluster up (a killed worker's replacement may be
    starting); modules that kill workers use it for every test."""
    client.wait_for_workers(2, timeout=60)
