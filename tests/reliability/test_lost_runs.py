"""A run that loses what it stands on mid-way — the driver's own writes refused by the
operating system, the dask scheduler killed, every worker killed — ends in its summary so
far and one ``error:`` line saying what happened and that ``--resume`` continues, exit 1,
no traceback; a ``--resume`` on a fresh cluster then completes with the clean run's bytes.

Real processes throughout: ``volseg segment`` in a fresh process, ``dask scheduler`` and
``dask worker`` processes (:func:`volseg.testing.external_cluster`), a file size limit set
on the running driver (``prlimit``: a real EFBIG from the kernel, as a full disk gives
ENOSPC)."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from reliability_runs import Inputs, Output

from volseg.io import VolumeStore, open_volume
from volseg.phantom import PhantomConfig, generate_phantom
from volseg.runtime import Ledger
from volseg.testing import (
    ExternalCluster,
    dask_cli,
    external_cluster,
    run_volseg,
    volseg_command,
    wait_until,
    write_tiny_checkpoint,
)

#: 40 blocks of one slice: ~25 ms each on one worker, so a fault after the first few
#: markers lands with most blocks still to run.
DEPTH = 40


@pytest.fixture(scope="module")
def long_inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    root = tmp_path_factory.mktemp("lost")
    config = PhantomConfig(shape=(DEPTH, 64, 64), seed=5)
    volume = generate_phantom(root / "vol.zarr", config, chunks=(1, 64, 64), progress=False).path
    return Inputs(volume, write_tiny_checkpoint(root / "m.pt", open_volume(volume).values[:8]))


@pytest.fixture(scope="module")
def clean(long_inputs: Inputs, tmp_path_factory: pytest.TempPathFactory) -> Output:
    result = long_inputs.segment(tmp_path_factory.mktemp("clean") / "clean.zarr")
    assert result.ok
    return Output.read(result.out)


def _args(inputs: Inputs, out: Path, *cluster: str) -> list[object]:
    return ["segment", inputs.volume, "--model", inputs.model, "--out", out, "--tile", "32",
            "--overlap", "16", "--device", "cpu", "--probabilities", "uint8", "--retries",
            "0", "--no-progress", *cluster]  # fmt: skip


def _markers(out: Path) -> int:
    return sum(
        1 for d in (out / ".volseg-run").glob("done-*") for p in d.iterdir() if p.name.isdigit()
    )


def _run_until(
    args: list[object], out: Path, fault: Callable[[subprocess.Popen[str]], None], **kw: object
) -> tuple[int, list[str], int]:
    """Start ``volseg ARGS``, call ``fault(process)`` once 3 blocks are marked done, wait for
    its end: ``(exit status, stderr lines, blocks marked done at the fault)``."""
    proc = subprocess.Popen(volseg_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)  # type: ignore[call-overload]  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while _markers(out) < 3:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no block was marked done in 120 s"
            time.sleep(0.005)
        at_fault = _markers(out)
        fault(proc)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err.strip().splitlines(), at_fault


def _summary_then_error(lines: list[str], error: str) -> tuple[int, int]:
    """Check that stderr is the run's summary so far, then one ``error:`` line matching
    ``error``; return (blocks done, blocks pending) from the summary."""
    text = "\n".join(lines)
    assert "Traceback" not in text, text
    assert len(lines) == 3, text  # summary, how to resume, the error
    counts = re.fullmatch(
        r"segment: (\d+) blocks done, 0 skipped, 0 failed, (\d+) pending of (\d+) in .*", lines[0]
    )
    assert counts is not None, text
    assert lines[1] == "re-run with --resume to run the pending blocks", text
    assert re.fullmatch(f"error: {error}", lines[2]), text
    done, pending, total = map(int, counts.groups())
    assert total == DEPTH and pending > 0 and done + pending == DEPTH
    return done, pending


def _resume_completes_like_a_clean_run(inputs: Inputs, out: Path, clean: Output, done: int):
    res = run_volseg(*_args(inputs, out, "--workers", "1", "--threads", "1"), "--resume")
    assert res.returncode == 0, res.stderr
    assert f"{DEPTH - done} blocks done, {done} skipped, 0 failed of {DEPTH}" in res.stdout
    assert VolumeStore.open(out).complete
    clean.assert_equal(Output.read(out))


def test_the_driver_refused_a_write_ends_in_the_summary_and_one_line(
    long_inputs: Inputs, clean: Output, tmp_path: Path
) -> None:
    out = tmp_path / "o.zarr"

    def no_more_bytes(proc: subprocess.Popen[str]) -> None:
        # the driver's next done marker grows past 1 byte: EFBIG (its workers write on)
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (1, 1))

    def ignore_sigxfsz() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill

    args = _args(long_inputs, out, "--workers", "1", "--threads", "1")
    code, lines, at_fault = _run_until(args, out, no_more_bytes, preexec_fn=ignore_sigxfsz)
    assert code == 1, lines
    done, _ = _summary_then_error(
        lines, r"File too large; the file grew past a size limit .* run again with --resume"
    )
    assert done == _markers(out) >= at_fault  # the summary counts what the ledger holds
    _resume_completes_like_a_clean_run(long_inputs, out, clean, done)


@pytest.fixture
def cluster(tmp_path: Path):
    if dask_cli() is None:
        pytest.skip("the dask command-line tool is not installed")
    with external_cluster(tmp_path / "cluster", n_workers=1) as running:
        yield running


def _scheduler_process(cluster: ExternalCluster) -> psutil.Process:
    for child in psutil.Process().children():
        argv = child.cmdline()
        if "scheduler" in argv and str(cluster.scheduler_file) in argv:
            return child
    raise AssertionError("the scheduler process of the cluster was not found")


def test_a_lost_scheduler_ends_in_one_line_and_resume_completes(
    long_inputs: Inputs, clean: Output, tmp_path: Path, cluster: ExternalCluster
) -> None:
    out = tmp_path / "o.zarr"
    scheduler = _scheduler_process(cluster)
    args = _args(long_inputs, out, "--scheduler", cluster.address)
    code, lines, _ = _run_until(args, out, lambda _: scheduler.kill())
    assert code == 1, lines
    done, _ = _summary_then_error(
        lines,
        r"segment stopped: the connection to the dask scheduler at "
        f"{re.escape(cluster.address)} was lost \\(block \\d+ .*\\); \\d+ blocks are recorded "
        r"done in the ledger: run again with --resume \(on a cluster that runs\) to continue",
    )
    assert done == len(Ledger(out).done())
    assert not VolumeStore.open(out).complete
    _resume_completes_like_a_clean_run(long_inputs, out, clean, done)


def test_a_cluster_whose_workers_all_died_ends_in_one_line_and_resume_completes(
    long_inputs: Inputs, clean: Output, tmp_path: Path, cluster: ExternalCluster
) -> None:
    out = tmp_path / "o.zarr"
    args = _args(long_inputs, out, "--scheduler", cluster.address)
    env = {**os.environ, "VOLSEG_WORKER_TIMEOUT": "1"}

    def kill_every_worker(_: subprocess.Popen[str]) -> None:
        for worker in cluster.workers:
            os.kill(worker.pid, signal.SIGKILL)

    code, lines, _ = _run_until(args, out, kill_every_worker, env=env)
    assert code == 1, lines
    done, _ = _summary_then_error(
        lines,
        f"segment stopped: every dask worker of the cluster at {re.escape(cluster.address)} "
        r"is gone and none came back within 1 s \(VOLSEG_WORKER_TIMEOUT\); \d+ blocks are "
        r"recorded done in the ledger: run again with --resume \(on a cluster that runs\) to "
        "continue",
    )
    wait_until(lambda: all(w.poll() is not None for w in cluster.workers), 10, "the workers")
    assert done == len(Ledger(out).done())
    _resume_completes_like_a_clean_run(long_inputs, out, clean, done)
