"""``measure_objects``: the objects of a segmentation, cut at their necks and measured.

It finds the 3D objects of the object classes (soma ∪ vessel; the block-wise connected
components of :mod:`volseg.reconstruct`), writes their ids to a work array in small chunks,
groups nearby objects, and runs :class:`ObjectTask` on every group on the dask cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import zarr

from volseg.classify._features import FEATURES
from volseg.classify._objects import GROUP_VOXELS, PLACEMENT, ObjectPieces, ObjectTask
from volseg.classify._options import (
    DEFAULT_OPTIONS,
    ObjectOptions,
    object_class_ids,
    vote_id,
)
from volseg.geometry import Block, Box
from volseg.io import StrictArray, VolumeStore, as_strict, strict_image, strict_labels
from volseg.io._layout import scratch_compressors
from volseg.reconstruct import find_components, id_dtype, write_components
from volseg.reconstruct._components import map_pass
from volseg.reconstruct._table import Moments

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["MeasuredObjects", "measure_objects"]


@dataclass(frozen=True)
class MeasuredObjects:
    """The objects of a segmentation and their pieces.

    ``components``: the work array of object ids (26-connected components of the object
    classes); ``pieces``: one :class:`ObjectPieces` per object, object ``i`` at ``i - 1``;
    ``table``: one row per piece — ``component``, ``piece`` (1..n within its object),
    ``downsample_factor``, every feature of :data:`FEATURES`, and ``truth_<value>`` counts
    when ground truth was given.
    """

    components: zarr.Array
    pieces: list[ObjectPieces]
    table: pd.DataFrame


def _small_chunks(block: Sequence[int], side: int = 128) -> tuple[int, ...]:
    """Chunks that tile ``block`` and are at most ``side`` in y and x: each object task
    reads its bounding box, and a small object should not decode a whole block."""
    chunks = [int(block[0])]
    for n in block[1:]:
        chunks.append(max(d for d in range(1, min(int(n), side) + 1) if n % d == 0))
    return tuple(chunks)


def measure_objects(
    volume: VolumeStore,
    *,
    labels: str,
    classes: Sequence[str],
    work: str | Path,
    client: Client,
    block_shape: Sequence[int] | None = None,
    options: ObjectOptions = DEFAULT_OPTIONS,
    truth: zarr.Array | StrictArray | None = None,
    truth_ids: Sequence[int] = (),
    annotated: Sequence[int] | None = None,
    progress: bool = True,
) -> MeasuredObjects:
    """Find, split and measure the objects of the ``classes`` of ``volume``'s
    ``labels/<labels>`` (the voxels of all of them together).

    Objects with fewer than ``options.min_voxels`` voxels are dropped (dust) before they
    are measured. The share of each piece that the labels call the last class (vessel) is
    its ``segmented_fraction``. See :class:`ObjectTask` for the rest.
    """
    work = Path(work)
    vs = volume.voxel_size
    class_labels = volume.labels(labels)
    found = find_components(
        class_labels,
        class_ids=object_class_ids(volume, labels, classes),
        work=work / "provisional",
        client=client,
        block_shape=block_shape,
        measure=False,
        progress=progress,
    )
    keep = found.moments.voxels >= options.min_voxels
    ids = zarr.create_array(
        str(work / "components"),
        shape=class_labels.shape,
        chunks=_small_chunks(found.grid.block_shape),
        dtype=id_dtype(int(keep.sum())),
        fill_value=0,
        compressors=scratch_compressors(),
        overwrite=True,
    )
    write_components(found, ids, client=client, keep=keep, progress=progress)
    # strict reads: a damaged chunk fails the groups that need it, naming its key
    task = ObjectTask(
        components=strict_labels(ids),
        image=strict_image(volume.image(0)),
        voxel_size=vs,
        work=str(work),
        options=options,
        truth=None if truth is None else as_strict(truth, "labels"),
        truth_ids=tuple(int(t) for t in truth_ids),
        annotated=None if annotated is None else tuple(int(a) for a in annotated),
        labels=strict_labels(class_labels),
        vote=vote_id(volume, labels, classes),
    )
    moments = found.moments.take(keep)
    groups = _groups(moments, class_labels.shape, options.max_voxels)
    units = [Block(g, (g,), region) for g, (region, _) in enumerate(groups)]
    units.sort(key=lambda unit: -unit.box.size)  # the largest first: balanced workers
    done: list[list[ObjectPieces]] = map_pass(
        client,
        "classify: measure objects",
        units,
        task,
        total=Box.from_shape(class_labels.shape),
        args=lambda unit: (groups[unit.id][1],),
        progress=progress,
    )
    pieces = sorted((p for group in done for p in group), key=lambda p: p.object_id)
    return MeasuredObjects(ids, pieces, _table(pieces, truth_ids if truth is not None else ()))


def _groups(
    moments: Moments, shape: Sequence[int], max_voxels: int
) -> list[tuple[Box, tuple[tuple[int, Box], ...]]]:
    """Objects ``1..n`` in groups that read one region: consecutive objects (raster order,
    so near in z) while the box around their grown boxes holds at most
    :data:`GROUP_VOXELS` voxels; an object larger than that, or to be downsampled, alone."""
    volume = Box.from_shape(shape)
    groups: list[tuple[Box, tuple[tuple[int, Box], ...]]] = []
    members: list[tuple[int, Box]] = []
    region = volume  # the region of ``members`` (unused while there are none)

    def close() -> None:
        if members:
            groups.append((region, tuple(members)))
            members.clear()

    for i in range(len(moments)):
        box = Box(tuple(moments.lo[i]), tuple(moments.hi[i]))
        grown = box.grow(1).clip(volume)
        if grown.size > min(GROUP_VOXELS, max_voxels):
            close()
            groups.append((grown, ((i + 1, box),)))
            continue
        joined = region.union(grown) if members else grown
        if joined.size > GROUP_VOXELS:
            close()
            joined = grown
        region = joined
        members.append((i + 1, box))
    close()
    return groups


def _table(pieces: Sequence[ObjectPieces], truth_ids: Sequence[int]) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for obj in pieces:
        for k, features in enumerate(obj.features, start=1):
            row: dict[str, Any] = {"component": obj.object_id, "piece": k}
            row["downsample_factor"] = "x".join(str(f) for f in obj.factor)
            row |= features
            if obj.truth_counts is not None:
                row |= {
                    f"truth_{v}": int(c)
                    for v, c in zip(truth_ids, obj.truth_counts[k - 1], strict=True)
                }
            rows.append(row)
    columns = ["component", "piece", "downsample_factor", *PLACEMENT, *FEATURES]
    truth = [f"truth_{v}" for v in truth_ids]
    dtypes = {"component": np.int64, "piece": np.int64, "downsample_factor": object}
    dtypes |= {c: np.float64 for c in (*PLACEMENT, *FEATURES)} | {c: np.int64 for c in truth}
    return pd.DataFrame(rows, columns=[*columns, *truth]).astype(dtypes)
