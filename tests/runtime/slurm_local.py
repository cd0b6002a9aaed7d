"""The real single-node SLURM cluster of the tests (``scripts/slurm_local.sh``): start it or
use the one running, write volseg SLURM configs for it, and watch its queue.

Imported by name (pytest puts this folder on ``sys.path``), like runtime_toy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
import zarr

from volseg.io import open_labels

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "slurm_local.sh"
#: Seconds for the script to install (apt-get) and start the daemons.
START_TIMEOUT_S = 300
#: The test phantom: 8 blocks of one (1, 64, 64) chunk each.
SHAPE = (8, 64, 64)
#: Seconds a cancelled job may take to leave squeue (KillWait=2 in the local cluster).
GONE_S = 20


def _run(*argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def node_state() -> str:
    """The state of the cluster's node as ``sinfo`` reports it ("" when it does not answer)."""
    if shutil.which("sinfo") is None:
        return ""
    try:
        res = _run("sinfo", "-h", "-N", "-o", "%T", timeout=15)
    except subprocess.TimeoutExpired:
        return ""
    return res.stdout.split()[0] if res.returncode == 0 and res.stdout.split() else ""


def start() -> tuple[str | None, bool]:
    """``(why not, started)``: use the cluster ``sinfo`` already answers for, else start
    the script's (setting ``SLURM_CONF`` in this process); ``why not`` is None when up."""
    up = ("idle", "mixed", "allocated")
    if node_state() in up:
        return None, False
    # the script's cluster, started earlier (by .ci/setup, or a developer)
    ours = _run("bash", str(SCRIPT), "env").stdout.strip().partition("=")[2]
    before = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = ours
    if node_state() in up:
        return None, False
    res = _run("bash", str(SCRIPT), "start", timeout=START_TIMEOUT_S)
    if res.returncode != 0:
        if before is None:
            del os.environ["SLURM_CONF"]
        else:
            os.environ["SLURM_CONF"] = before
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        why = next((ln for ln in lines if ln.startswith("slurm:")), lines[-1] if lines else "")
        return why or f"slurm: {SCRIPT.name} start failed (exit {res.returncode})", False
    return None, True


def stop() -> None:
    _run("bash", str(SCRIPT), "stop", timeout=60)


def jobs(name: str) -> dict[str, str]:
    """The jobs named ``name`` in ``squeue``: job id -> state (PENDING, RUNNING, ...)."""
    res = _run("squeue", "-h", "-n", name, "-o", "%i %T")
    assert res.returncode == 0, res.stderr
    return dict(line.split() for line in res.stdout.splitlines() if line.strip())


def ended_jobs(ids: set[str]) -> dict[str, str] | None:
    """The jobs of ``ids`` that SLURM's job completion log lists as ended: id -> final
    state; None where the cluster keeps no such file (``JobCompType`` not filetxt)."""
    res = _run("scontrol", "show", "config")
    config = dict(
        (k.strip(), v.strip()) for k, _, v in (ln.partition("=") for ln in res.stdout.splitlines())
    )
    if config.get("JobCompType") != "jobcomp/filetxt":
        return None
    log = Path(config["JobCompLoc"])
    fields = (dict(f.split("=", 1) for f in ln.split() if "=" in f) for ln in
              (log.read_text().splitlines() if log.exists() else []))  # fmt: skip
    return {f["JobId"]: f["JobState"] for f in fields if f.get("JobId") in ids}


def job_of(pid: int) -> str:
    """The SLURM job a process on this node runs in (its ``SLURM_JOB_ID``)."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    ids = [v.split(b"=", 1)[1].decode() for v in environ if v.startswith(b"SLURM_JOB_ID=")]
    assert ids, f"process {pid} is not in a SLURM job"
    return ids[0]


def block_of(key: str) -> int:
    """The block (= z chunk) of a labels chunk key of the test phantom."""
    return int(key.split("/c/")[1].split("/")[0])


def cancel(job_ids: list[str]) -> None:
    res = _run("scancel", *job_ids)
    assert res.returncode == 0, res.stderr


def wait_for_jobs(name: str, predicate: Any, timeout: float, what: str) -> dict[str, str]:
    """Poll ``squeue`` until ``predicate(jobs)`` holds; the jobs then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = jobs(name)
        if predicate(now):
            return now
        time.sleep(0.3)
    raise AssertionError(f"{what} not seen within {timeout} s; squeue: {jobs(name)}")


def write_config(path: Path, name: str, **options: Any) -> Path:
    """A volseg SLURM config for the local cluster: jobs named ``name`` of one core, worker
    logs and spill space beside ``path``; ``options`` override (``jobs``, ``adapt``)."""
    values: dict[str, Any] = {
        "cores": 1,
        "processes": 1,
        "memory": "2GiB",
        "walltime": "00:20:00",
        "partition": "debug",
        "job_name": name,
        "log_directory": str(path.parent / f"{name}-logs"),
        "local_directory": str(path.parent / f"{name}-spill"),
        "scheduler_options": {"dashboard_address": ":0", "host": "127.0.0.1"},
        "death_timeout": 30,
        "jobs": 2,
    }
    values.update(options)
    values = {k: v for k, v in values.items() if v is not None}
    path.write_text(yaml.safe_dump(values))
    return path


@dataclass
class QueueWatch:
    """Polls ``squeue`` for the jobs named ``name`` in a thread while a run goes on:
    the most jobs running at once, every job id seen, and a callback per poll."""

    name: str
    on_poll: Any = None
    most_running: int = 0
    seen: set[str] = field(default_factory=set)
    samples: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> QueueWatch:
        def poll() -> None:
            while not self._stop.is_set():
                now = jobs(self.name)
                running = sum(state == "RUNNING" for state in now.values())
                self.samples.append(running)
                self.most_running = max(self.most_running, running)
                self.seen |= set(now)
                if self.on_poll is not None:
                    self.on_poll(now)
                time.sleep(0.3)

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=30)


def segment_args(inputs: tuple[Path, Path], out: Path) -> list[object]:
    """``volseg segment`` of the test phantom (options but the cluster's)."""
    volume, model = inputs
    return ["segment", volume, "--model", model, "--out", out, "--tile", "32",
            "--overlap", "16", "--device", "cpu", "--probabilities", "uint8",
            "--retries", "0", "--no-progress"]  # fmt: skip


def stored_chunks(out: Path, name: str) -> dict[str, str]:
    """Every chunk file under ``out/name``: key -> sha256."""
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((out / name).rglob("c/**/*"))
        if p.is_file()
    }


def assert_same_segmentation(out: Path, reference: Path) -> None:
    """Labels, probabilities and the labels chunk files of ``out`` equal ``reference``'s."""
    np.testing.assert_array_equal(
        open_labels(out, "segmentation").values, open_labels(reference, "segmentation").values
    )
    probs = np.asarray(zarr.open_group(out, mode="r")["probabilities"])
    expected = np.asarray(zarr.open_group(reference, mode="r")["probabilities"])
    np.testing.assert_array_equal(probs, expected)
    chunks = stored_chunks(out, "labels/segmentation/0")
    assert chunks == stored_chunks(reference, "labels/segmentation/0") and chunks
