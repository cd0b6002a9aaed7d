"""Ingest a stack of slices (and optional label slices) into a volseg store, streamed."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dask
import numpy as np
import zarr

from volseg.errors import ConfigError, InputError
from volseg.geometry import BlockGrid, Box
from volseg.io._provenance import combine_digests, provenance
from volseg.io._pyramid import build_pyramid
from volseg.io._sources import SliceSource, open_source
from volseg.io._store import VolumeStore
from volseg.runtime import run_tasks

GROUND_TRUTH = "ground_truth"


def _match_labels(images: SliceSource, labels: SliceSource) -> None:
    """Refuse labels that do not pair one to one with the image slices."""
    if labels.shape != images.shape:
        raise InputError(
            f"labels {labels.path} form a stack of shape {labels.shape} (z, y, x) but the "
            f"images {images.path} form {images.shape}: give one label slice per image slice, "
            "of the same size"
        )
    if images.kind == labels.kind == "slices":
        stems = [Path(n).stem for n in images.names]
        lstems = [Path(n).stem for n in labels.names]
        for z, (a, b) in enumerate(zip(stems, lstems, strict=True)):
            if a != b:
                raise InputError(
                    f"label slice {z} is {labels.names[z]} but image slice {z} is "
                    f"{images.names[z]}: label files must have the same names as the image "
                    f"files ({a!r} has no label {a}.*, or the folders hold different slices)"
                )


def _slab_task(
    images: SliceSource,
    labels: SliceSource | None,
    image_out: zarr.Array,
    labels_out: zarr.Array | None,
    box: Box,
    num_classes: int | None,
) -> dict[str, Any]:
    """Read, check and write the slices of one z-slab; return their digests and label stats."""
    z0, z1 = box.start[0], box.stop[0]
    digests, ldigests, counts = [], [], np.zeros(0, np.int64)
    slab = np.empty((z1 - z0, *images.shape[1:]), images.dtype)
    for i, z in enumerate(range(z0, z1)):
        slab[i] = images.read(z)
        digests.append(hashlib.sha256(slab[i].tobytes()).hexdigest())
    image_out[z0:z1] = slab
    del slab
    if labels is not None and labels_out is not None:
        lslab = np.empty((z1 - z0, *labels.shape[1:]), labels_out.dtype)
        for i, z in enumerate(range(z0, z1)):
            lab = labels.read(z)
            top = int(lab.max(initial=0))
            if num_classes is not None and top >= num_classes:
                raise InputError(
                    f"{labels.names[z]} holds label value {top} but only {num_classes} classes "
                    f"were named (values 0..{num_classes - 1}); name every class with --classes"
                )
            lslab[i] = lab
            ldigests.append(hashlib.sha256(lab.tobytes()).hexdigest())
            counts = _add_counts(counts, np.bincount(lab.ravel()))
        labels_out[z0:z1] = lslab
    return {"z0": z0, "digests": digests, "label_digests": ldigests, "counts": counts}


def _add_counts(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n = max(len(a), len(b))
    return np.pad(a, (0, n - len(a))) + np.pad(b, (0, n - len(b)))


def ingest(
    src: str | Path,
    out: str | Path,
    *,
    labels: str | Path | None = None,
    classes: Sequence[str] | None = None,
    voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
    chunks: Sequence[int] | None = None,
    levels: int = 1,
    overwrite: bool = False,
    num_workers: int | None = None,
    progress: bool = True,
    command: str | None = None,
) -> VolumeStore:
    """Ingest slices into a new OME-Zarr store, streamed slab by slab in parallel.

    Parameters
    ----------
    src
        A folder of 2D TIFF/PNG slices (natural sort order), a multipage TIFF, a 3D ``.npy``
        file or a zarr array. A folder holding ``images/`` and ``labels/`` sub-folders is
        read as both.
    out
        The store to create.
    labels
        Label slices matching ``src`` one to one (same count, size and file names), written
        to ``labels/ground_truth``.
    classes
        Class names for label values 0, 1, ...; by default ``background, class 1, ...`` up
        to the largest value found.
    voxel_size
        (z, y, x) in micrometres.
    chunks
        (z, y, x) chunk shape; by default 512 px in y/x and about 4 MiB per chunk.
    levels
        Number of pyramid levels (1: full resolution only).
    overwrite
        Replace ``out`` if it is already a volseg store.
    num_workers
        Threads reading and writing slabs; by default one per CPU core.
    progress
        Show a progress bar.
    command
        The command line recorded in the store's provenance (the CLI passes its own).

    Returns
    -------
    VolumeStore
        The complete store.

    Raises
    ------
    InputNotFoundError, InputError, CorruptInputError
        Bad input, naming the file at fault. Whatever was written is left marked
        incomplete, never as a finished store.
    StoreExistsError
        ``out`` exists and ``overwrite`` is false.

    Notes
    -----
    Memory is bounded by ``num_workers`` slabs of chunk depth, whatever the volume depth.
    The store records the sha256 of the decoded voxels of every slice as input identity.
    """
    src, out = Path(src), Path(out)
    if labels is None and (src / "images").is_dir() and (src / "labels").is_dir():
        src, labels = src / "images", src / "labels"
    if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
        raise ConfigError(f"the output {out} must not be the input {src} or lie inside it")
    images = open_source(src, role="image")
    lsrc = open_source(labels, role="labels") if labels is not None else None
    if lsrc is not None:
        _match_labels(images, lsrc)
    if classes is not None and len(classes) < 2:
        raise ConfigError(f"name at least two classes (background first), got {list(classes)}")

    config = {
        "src": str(src),
        "labels": str(labels) if labels else None,
        "classes": list(classes) if classes else None,
        "voxel_size": list(voxel_size),
        "chunks": list(chunks) if chunks else None,
        "levels": levels,
    }
    inputs = [
        {"role": "image", "kind": images.kind, "path": str(src.resolve()), "slices": len(images)}
    ]
    if lsrc is not None:
        inputs.append(
            {
                "role": "labels",
                "kind": lsrc.kind,
                "path": str(lsrc.path.resolve()),
                "slices": len(lsrc),
            }
        )
    store = VolumeStore.create(
        out,
        shape=images.shape,
        dtype=images.dtype,
        voxel_size=voxel_size,
        chunks=chunks,
        levels=levels,
        provenance=provenance(command=command, config=config, inputs=inputs),
        overwrite=overwrite,
    )
    image_out = store.image(0)
    labels_out = None
    if lsrc is not None:
        labels_out = store.create_labels(
            GROUND_TRUTH, classes=classes or ["background", "foreground"], dtype=lsrc.dtype.name
        )
    slab_depth = image_out.chunks[0]
    slabs = BlockGrid(images.shape, (slab_depth, *images.shape[1:]))
    tasks = [
        dask.delayed(_slab_task)(
            images, lsrc, image_out, labels_out, b.box, len(classes) if classes else None
        )
        for b in slabs
    ]
    results, seconds = run_tasks(
        tasks, description=f"ingest {src.name}", num_workers=num_workers, progress=progress
    )
    results.sort(key=lambda r: r["z0"])
    inputs[0]["sha256"] = combine_digests(d for r in results for d in r["digests"])
    meta: dict[str, Any] = {"ingest_seconds": round(seconds, 3)}
    if lsrc is not None:
        inputs[1]["sha256"] = combine_digests(d for r in results for d in r["label_digests"])
        counts = np.zeros(0, np.int64)
        for r in results:
            counts = _add_counts(counts, r["counts"])
        names = (
            list(classes)
            if classes
            else ["background"] + [f"class {i}" for i in range(1, max(len(counts), 2))]
        )
        fractions = _add_counts(counts, np.zeros(len(names), np.int64)) / max(counts.sum(), 1)
        store.set_classes(GROUND_TRUTH, names, fractions=fractions)
    if levels > 1:
        build_pyramid(store, num_workers=num_workers, progress=progress)
    prov = store.meta["provenance"]
    prov["inputs"] = inputs
    store.mark_complete(provenance=prov, **meta)
    return store
