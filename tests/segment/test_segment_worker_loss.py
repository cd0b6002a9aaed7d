"""volseg segment with a worker killed mid-run (kill -9), on a cluster of separate scheduler
and worker processes: the run completes and its labels equal a clean run's, bit for bit."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import dask
import numpy as np
import pytest
import torch
from distributed import Client

from volseg.io import VolumeStore, open_labels, open_volume
from volseg.models import build_model, save_checkpoint
from volseg.phantom import PhantomConfig, generate_phantom
from volseg.runtime import Ledger
from volseg.segment import SegmentResult, make_segment_config, segment
from volseg.testing import dask_cli, executing_tasks, external_cluster, wait_until

# 8 blocks (one chunk deep, whole slices) of 2 x 96 x 96 px: 8 SegNet tiles of 64² each,
# a few tenths of a second of CPU per block (after a worker's first, which loads torch and
# the model), so a kill after the first finished block lands mid-run.
SHAPE = (16, 96, 96)
CHUNKS = (2, 96, 96)
N_BLOCKS = 8
CLASSES = ["background", "soma", "vessel"]
MEAN, STD = 100.0, 40.0
# what a nanny (LocalCluster, plain `dask worker`) sets in its worker's environment, e.g.
# OMP_NUM_THREADS=1; the test's workers run without one, so that kill -9 kills the worker
NANNY_ENV = {k: str(v) for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items()}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    """A small phantom and a seeded width-16 SegNet whose labels vary in space."""
    root = tmp_path_factory.mktemp("seg-loss")
    store = generate_phantom(
        root / "vol.zarr",
        PhantomConfig(shape=SHAPE, seed=7),
        chunks=CHUNKS,
        overwrite=True,
        progress=False,
    )
    torch.manual_seed(0)
    args = {"in_channels": 1, "num_classes": 3, "width": 16}
    model = build_model("segnet", **args)
    # batch-norm statistics from the data (one pass, cumulative), and logit offsets that
    # centre each class's logits, so the untrained net's labels vary in space
    x = (torch.from_numpy(open_volume(store.path).values[::4, None].astype("float32")) - MEAN) / STD
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
            module.reset_running_stats()
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()
    with torch.no_grad():
        offsets = (-model(x).mean(dim=(0, 2, 3))).tolist()
    ckpt = root / "model.pt"
    save_checkpoint(
        ckpt,
        model,
        architecture="segnet",
        arguments=args,
        metadata={
            "classes": CLASSES,
            "normalization": {"mean": MEAN, "std": STD},
            "logit_offsets": offsets,
        },
    )
    return store.path, ckpt


def _segment(inputs: tuple[Path, Path], out: Path, **kw: object) -> SegmentResult:
    vol, ckpt = inputs
    values = {
        "volume": str(vol),
        "model": str(ckpt),
        "out": str(out),
        "tile": 64,
        "overlap": 32,
        "batch_size": 8,
        "device": "cpu",
        "retries": 0,  # a lost block must come back through dask's rescheduling alone
        **kw,
    }
    return segment(make_segment_config(values), progress=False)


@dataclass
class Kill:
    pid: int
    address: str
    block: int  # the block the victim was executing
    running_s: float  # how long it had been executing it
    done: set[int]  # blocks in the ledger right after the kill


def _block_id(key: str) -> int:
    return int(key.split("-")[1])  # "segment-<id>-<token>"


def test_worker_killed_mid_segment_run_output_equals_a_clean_run(inputs, tmp_path) -> None:
    if dask_cli() is None:
        pytest.skip("the dask command-line tool is not installed")
    clean = _segment(inputs, tmp_path / "clean.zarr", workers=1)  # a LocalCluster
    assert clean.ok and clean.summary.total == N_BLOCKS
    reference = open_labels(clean.out, "segmentation").values
    assert len(np.unique(reference)) > 1  # the seeded model does not predict one class

    out = tmp_path / "killed.zarr"
    kills: list[Kill] = []
    errors: list[BaseException] = []

    with (
        external_cluster(tmp_path / "cluster", n_workers=2, env=NANNY_ENV) as cluster,
        # not the current client: run_task's as_completed would track the run's futures
        # on this client's event loop ("Event ... bound to a different event loop")
        Client(cluster.address, timeout=60, set_as_default=False) as client,
    ):
        client.wait_for_workers(2, timeout=60)
        pids = client.run(os.getpid)
        ours = {w.pid: w for w in cluster.workers}
        assert set(pids.values()) == set(ours)
        ledger = Ledger(out)

        def kill_a_worker_in_the_middle_of_a_block() -> None:
            try:
                wait_until(
                    lambda: run_over.is_set() or (ledger.exists and bool(ledger.done())),
                    120,
                    "a finished block",
                )
                while not run_over.is_set():
                    for addr in pids:  # one at a time: each answer is fresh when it comes
                        running = executing_tasks(client, [addr])[addr]
                        key = next((k for k in running if k.startswith("segment-")), None)
                        if key is not None:
                            os.kill(pids[addr], signal.SIGKILL)
                            done = ledger.done()
                            kills.append(Kill(pids[addr], addr, _block_id(key), running[key], done))
                            return
                    time.sleep(0.02)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        killer = threading.Thread(target=kill_a_worker_in_the_middle_of_a_block, daemon=True)
        run_over = threading.Event()
        killer.start()
        try:
            result = _segment(inputs, out, scheduler=cluster.address)
        finally:
            run_over.set()
            killer.join(timeout=30)
        assert not killer.is_alive() and not errors, errors

        # the kill happened, to one of our workers, in the middle of a block, mid-run
        assert len(kills) == 1, "no worker was executing a block between the first and last"
        kill = kills[0]
        assert ours[kill.pid].wait(timeout=10) == -signal.SIGKILL
        assert kill.block not in kill.done and 1 <= len(kill.done) < N_BLOCKS
        # the other worker finished the run and is the only one left
        survivor = next(addr for addr, pid in pids.items() if pid != kill.pid)
        assert ours[pids[survivor]].poll() is None
        assert list(client.scheduler_info()["workers"]) == [survivor]

    # the run completed: every block done in the ledger, the store marked complete
    assert result.ok, result.summary.failed
    assert result.summary.done == N_BLOCKS and result.summary.skipped == 0
    assert Ledger(out).done() == set(range(N_BLOCKS))
    store = VolumeStore.open(out)
    assert store.complete and store.meta["complete"] is True
    # and its labels are the clean run's, bit for bit
    labels = open_labels(out, "segmentation").values
    assert labels.dtype == reference.dtype == np.uint8
    np.testing.assert_array_equal(labels, reference)
