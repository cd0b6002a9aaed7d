"""What the reliability tests of ``reconstruct`` and ``classify`` share: a small
segmentation whose objects cross block borders, a classifier, what a run wrote, and a run
started as a user starts it that the test can watch.

Imported by name (pytest puts this folder on ``sys.path``), like reliability_runs.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from volseg.classify import train_classifier
from volseg.io import VolumeStore
from volseg.testing import Faults, volseg_command, wait_until, write_labels_store

CLASSES = ["background", "soma", "vessel"]
SHAPE = (8, 32, 32)
#: 2 x 2 x 2 chunks: the blocks below are one chunk each, 8 of them.
CHUNKS = (4, 16, 16)
N_BLOCKS = 8


def chunk_key(block: int) -> str:
    """The chunk key (``c/z/y/x``) of block ``block`` (C order over the 2 x 2 x 2 grid)."""
    return "c/{}/{}/{}".format(*np.unravel_index(block, (2, 2, 2)))


def segmentation() -> np.ndarray:
    """Class ids: a soma in every chunk, somas across chunk borders (z, y, x, and a corner)
    and a vessel through six chunks, so every block holds objects and the merge pass
    joins pieces of one object from several blocks."""
    labels = np.zeros(SHAPE, np.uint8)
    for z0 in (0, 4):
        for y0 in (0, 16):
            for x0 in (0, 16):
                labels[z0 + 1 : z0 + 3, y0 + 2 : y0 + 6, x0 + 2 : x0 + 6] = 1
    labels[2:6, 9:12, 4:7] = 1  # across z = 4
    labels[1:3, 13:19, 9:12] = 1  # across y = 16
    labels[5:7, 9:12, 13:19] = 1  # across x = 16
    labels[3:5, 15:17, 15:17] = 1  # across the corner of all eight chunks
    labels[1:7, 26:28, 2:30] = 2  # a vessel, apart from the somas
    return labels


def write_segmentation(path: Path) -> Path:
    return write_labels_store(path, segmentation(), classes=CLASSES, chunks=CHUNKS)


def write_classifier(path: Path, segmented: Path, client: object) -> Path:
    """A classifier trained on the objects of ``segmented`` labelled by its own classes
    (12 somas, 1 vessel), which it then names right."""
    return train_classifier(
        segmented, segmented, path, truth_labels="segmentation", client=client, progress=False
    ).path


def files(folder: Path) -> dict[str, str]:
    """The files under ``folder`` (relative path -> sha256 of the bytes)."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def partial_files(folder: Path) -> list[Path]:
    """Temporary files of interrupted writes (zarr's ``*.partial``, volseg's ``.*.tmp``)."""
    return [p for p in folder.rglob("*") if p.name.endswith((".partial", ".tmp"))]


@dataclass(frozen=True)
class Written:
    """What a finished run wrote: label images (name -> values), each one's chunk files
    (``name/c/...`` -> sha256) and the object table."""

    labels: dict[str, np.ndarray]
    chunks: dict[str, str]
    table: pd.DataFrame

    @classmethod
    def read(cls, out_dir: Path, store: str, names: Sequence[str]) -> Written:
        volume = VolumeStore.open(out_dir / store)
        assert volume.complete
        labels = {n: np.asarray(volume.labels(n)[:]) for n in names}
        root = out_dir / store / "labels"
        chunks = {
            f"{n}/{k}": v
            for n in names
            for k, v in files(root / n / "0").items()
            if k != "zarr.json"
        }
        return cls(labels, chunks, pd.read_parquet(out_dir / "objects.parquet"))

    def assert_equal(self, other: Written) -> None:
        assert other.labels.keys() == self.labels.keys()
        for name, values in self.labels.items():
            np.testing.assert_array_equal(other.labels[name], values)
        assert other.chunks == self.chunks
        pd.testing.assert_frame_equal(other.table, self.table, check_exact=True)


@contextlib.contextmanager
def watched_run(faults: Faults, *args: object) -> Iterator[subprocess.Popen[str]]:
    """``volseg ARGS`` started in a session of its own (a ``crash-after`` fault kills it
    whole, driver and workers, as a crash of the machine would), its workers under
    ``faults``; yielded once they wrote for the first time (the run holds its lock then).
    Read its end with ``communicate``; on exit it is killed if it still runs."""
    process = subprocess.Popen(
        volseg_command(*args),
        env={k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"} | faults.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    with process:
        try:
            wait_until(lambda: bool(faults.writes()) or process.poll() is not None, 120, "a write")
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
