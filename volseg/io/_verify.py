"""``verify``: decode every chunk of every array of a store and recheck the input digests
recorded at ingest; report what is damaged, by array path and chunk key."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import zarr

from volseg.errors import CorruptChunkError
from volseg.io._ingest import GROUND_TRUTH
from volseg.io._provenance import combine_digests
from volseg.io._read import chunk_exists, chunk_grid, chunk_key, chunks_selected, read_chunk
from volseg.io._store import VolumeStore
from volseg.runtime import RUN_DIR
from volseg.runtime._progress import count_bar

#: Where ingest's input records point: the level-0 array each digest was taken of.
_DIGESTED = {"image": "0", "labels": f"labels/{GROUND_TRUTH}/0"}


@dataclass(frozen=True)
class ChunkDamage:
    """One damaged chunk: ``array`` is its path inside the store, ``key`` its chunk key."""

    array: str
    key: str
    problem: Literal["missing", "corrupt"]
    detail: str

    def __str__(self) -> str:
        return f"{self.array}/{self.key}: {self.problem} ({self.detail})"


@dataclass(frozen=True)
class DigestCheck:
    """An input digest recorded at ingest, recomputed from the stored voxels.

    ``ok`` is None when it could not be recomputed (the array is damaged or absent).
    """

    role: str
    array: str
    recorded: str
    computed: str | None
    ok: bool | None

    def __str__(self) -> str:
        if self.ok is None:
            return f"input {self.role} sha256: not rechecked ({self.array} is damaged or absent)"
        verdict = "matches" if self.ok else f"DIFFERS (now {self.computed})"
        return f"input {self.role} sha256 {self.recorded[:12]}: {verdict}"


@dataclass
class VerifyReport:
    """What :func:`verify_store` found; ``ok`` when nothing is damaged."""

    store: Path
    arrays: int = 0
    chunks: int = 0
    damaged: list[ChunkDamage] = field(default_factory=list)
    digests: list[DigestCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.damaged and all(d.ok is not False for d in self.digests)

    def __str__(self) -> str:
        bad_digests = sum(d.ok is False for d in self.digests)
        if self.ok:
            return (
                f"{self.store}: ok, {self.chunks} chunks of {self.arrays} arrays decode, "
                f"{sum(d.ok is True for d in self.digests)} input digest(s) match"
            )
        return (
            f"{self.store}: DAMAGED, {len(self.damaged)} of {self.chunks} chunks "
            f"({sum(d.problem == 'missing' for d in self.damaged)} missing), "
            f"{bad_digests} input digest(s) differ; restore the damaged chunks from a copy "
            "or re-run the step that wrote them"
        )


def _arrays(store: VolumeStore) -> list[tuple[str, zarr.Array]]:
    """The arrays of ``store`` by path inside it (its run state left out), sorted."""
    found = []
    for meta in store.path.rglob("zarr.json"):
        rel = meta.parent.relative_to(store.path)
        if not rel.parts or rel.parts[0] == RUN_DIR:
            continue
        node = store.group[rel.as_posix()]
        if isinstance(node, zarr.Array):
            found.append((rel.as_posix(), node))
    return sorted(found, key=lambda item: item[0])


def _grid(array: zarr.Array) -> tuple[int, ...]:
    return tuple(-(-n // c) for n, c in zip(array.shape, chunk_grid(array), strict=True))


def _digest(array: zarr.Array) -> str:
    """ingest's digest of a volume: sha256 over the per-slice sha256 of the voxels, read
    one chunk-deep slab at a time."""
    digests = []
    depth = array.chunks[0]
    for z0 in range(0, array.shape[0], depth):
        slab = np.asarray(array[z0 : z0 + depth])
        digests += [hashlib.sha256(s.tobytes()).hexdigest() for s in slab]
    return combine_digests(digests)


def verify_store(path: str | Path, *, progress: bool = True) -> VerifyReport:
    """Decode every chunk of every array of the store at ``path``; recheck ingest's digests.

    Reads one chunk at a time (memory: one chunk, or one chunk-deep slab of level 0 for the
    digests). A chunk of an image level that is not stored is damage (volseg writes every
    image chunk); an absent chunk of any other array is its fill value (labels: background).

    Parameters
    ----------
    path
        A volseg / OME-Zarr store.
    progress
        Show a progress bar (on stderr).

    Returns
    -------
    VerifyReport
        The damaged chunks by array path and key, and each input digest recorded at ingest
        (``volseg ingest`` records the sha256 of the decoded voxels of every slice, of the
        image and of the labels) recomputed from the stored level 0, unless that level is
        damaged. Other provenance records (a phantom's scene hash, a checkpoint's) describe
        files outside the store and are not rechecked.

    Raises
    ------
    StoreNotFoundError, InvalidStoreError
        No OME-Zarr image store at ``path``.
    """
    store = VolumeStore.open(path)
    report = VerifyReport(store=store.path)
    images = {d["path"] for d in store.multiscale["datasets"]}
    arrays = _arrays(store)
    report.arrays = len(arrays)
    total = sum(math.prod(_grid(a)) for _, a in arrays)
    with count_bar(enabled=progress, unit="chunks") as bar:
        task = bar.add_task(f"verify {store.path.name}", total=total)
        for name, array in arrays:
            for coords in chunks_selected(array, ...):
                bar.advance(task)
                report.chunks += 1
                if not chunk_exists(array, coords):
                    if name in images:
                        report.damaged.append(
                            ChunkDamage(name, chunk_key(array, coords), "missing", "image chunk")
                        )
                    continue
                try:
                    read_chunk(array, coords)
                except CorruptChunkError as exc:
                    detail = str(exc).split(" is corrupt (", 1)[-1].split("): ", 1)[0]
                    report.damaged.append(
                        ChunkDamage(name, chunk_key(array, coords), "corrupt", detail)
                    )
    damaged_arrays = {d.array for d in report.damaged}
    for record in store.meta.get("provenance", {}).get("inputs", []):
        role, recorded = record.get("role"), record.get("sha256")
        if role not in _DIGESTED or not recorded:
            continue
        name = _DIGESTED[role]
        if name in damaged_arrays or name not in dict(arrays):
            report.digests.append(DigestCheck(role, name, recorded, None, None))
            continue
        computed = _digest(dict(arrays)[name])
        report.digests.append(DigestCheck(role, name, recorded, computed, computed == recorded))
    return report
