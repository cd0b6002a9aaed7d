"""Worker jobs cancelled with ``scancel`` mid-run, on a real SLURM cluster: one job → the run
completes with the clean run's bytes; every job → one error line, and ``--resume`` later
computes only the blocks not done."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from slurm_local import (
    GONE_S,
    SHAPE,
    assert_same_segmentation,
    block_of,
    cancel,
    job_of,
    jobs,
    segment_args,
    wait_for_jobs,
    write_config,
)

from volseg.runtime import Ledger
from volseg.testing import Fault, Faults, run_volseg, volseg_command

pytestmark = pytest.mark.usefixtures("slurm")

LABELS = "labels/segmentation/0/c/*"


def run_until(
    args: list[object],
    faults: Faults,
    *,
    writes: int,
    then: Callable[[subprocess.Popen[str]], None],
    **env: str,
) -> tuple[int, list[str]]:
    """Start ``volseg ARGS``; once ``writes`` labels chunks were written, call ``then(it)``;
    wait for the end: ``(exit status, stderr lines)``."""
    proc = subprocess.Popen(
        volseg_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **faults.env, **env},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(faults.writes(LABELS)) < writes:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"{writes} labels writes not seen in 120 s"
            time.sleep(0.05)
        then(proc)
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err.strip().splitlines()


def test_one_cancelled_worker_job_the_run_completes_identically(
    slurm_inputs: tuple[Path, Path], slurm_reference: Path, tmp_path: Path
) -> None:
    out = tmp_path / "seg.zarr"
    faults = Faults(tmp_path / "faults")
    faults.plan(out, Fault("delay", LABELS, nth=None, seconds=1.0))  # blocks of ~1 s
    config = write_config(tmp_path / "slurm.yaml", "vs-cancel1", jobs=2)
    cancelled: list[str] = []

    def cancel_one(_: object) -> None:  # the job of the worker writing the first block
        wait_for_jobs("vs-cancel1", lambda j: len(j) == 2, 30, "two jobs")
        cancelled.append(job_of(faults.writes(LABELS)[0].pid))
        cancel(cancelled)

    code, err = run_until(
        [*segment_args(slurm_inputs, out), "--scheduler", config], faults, writes=1, then=cancel_one
    )
    assert code == 0, err
    writes = faults.writes(LABELS)
    # every block written, by both jobs' workers; the cancelled one's blocks again elsewhere
    assert {block_of(w.key) for w in writes} == set(range(SHAPE[0]))
    assert len({w.pid for w in writes}) >= 2
    assert cancelled[0] not in jobs("vs-cancel1")
    wait_for_jobs("vs-cancel1", lambda now: not now, GONE_S, "no job left")
    assert Ledger(out).done() == set(range(SHAPE[0]))
    assert_same_segmentation(out, slurm_reference)


def test_every_worker_job_cancelled_one_line_then_resume_completes_the_rest(
    slurm_inputs: tuple[Path, Path], slurm_reference: Path, tmp_path: Path
) -> None:
    out = tmp_path / "seg.zarr"
    faults = Faults(tmp_path / "faults")
    faults.plan(out, Fault("delay", LABELS, nth=None, seconds=1.0))
    config = write_config(tmp_path / "slurm.yaml", "vs-cancelall", jobs=2)
    args = [*segment_args(slurm_inputs, out), "--scheduler", config]

    def cancel_all(_: object) -> None:
        cancel(sorted(jobs("vs-cancelall")))

    code, err = run_until(args, faults, writes=4, then=cancel_all, VOLSEG_WORKER_TIMEOUT="2")
    assert code == 1, err
    text = "\n".join(err)
    assert "Traceback" not in text and err[-1].startswith("error: segment stopped: "), text
    assert "every dask worker of the cluster at tcp://127.0.0.1:" in err[-1], text
    assert "none came back within 2 s (VOLSEG_WORKER_TIMEOUT)" in err[-1], text
    assert [line for line in err if line.startswith("error:")] == [err[-1]]
    wait_for_jobs("vs-cancelall", lambda now: not now, GONE_S, "no job left")
    done = Ledger(out).done()
    assert 0 < len(done) < SHAPE[0]
    assert f"{len(done)} blocks are recorded done in the ledger" in err[-1]

    # later: the same command with --resume computes the other blocks only
    faults.plan(out, Fault("record", LABELS))
    res = run_volseg(*args, "--resume", env=faults.env)
    assert res.returncode == 0, res.stderr
    rest = [block_of(w.key) for w in faults.writes(LABELS)]
    assert sorted(rest) == sorted(set(range(SHAPE[0])) - done)
    wait_for_jobs("vs-cancelall", lambda now: not now, GONE_S, "no job left")
    assert_same_segmentation(out, slurm_reference)


def test_a_terminated_run_cancels_its_worker_jobs(
    slurm_inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "seg.zarr"
    faults = Faults(tmp_path / "faults")
    faults.plan(out, Fault("delay", LABELS, nth=None, seconds=1.0))
    config = write_config(tmp_path / "slurm.yaml", "vs-term", jobs=2, death_timeout=600)

    def terminate(run: subprocess.Popen[str]) -> None:  # as `kill`, or a walltime would
        assert len(jobs("vs-term")) == 2
        run.send_signal(signal.SIGTERM)

    args = [*segment_args(slurm_inputs, out), "--scheduler", config]
    code, err = run_until(args, faults, writes=1, then=terminate)
    assert code == 128 + signal.SIGTERM, err
    # the workers would outlive a killed driver by their death_timeout (600 s here)
    wait_for_jobs("vs-term", lambda now: not now, GONE_S, "no job left")
    assert len(Ledger(out).done()) < SHAPE[0]  # it stopped early
