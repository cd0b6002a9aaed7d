"""3D connected components of a labels volume, block by block on a dask cluster.

The passes (each one task per block, in parallel):

1. *label*: every block labels its foreground on its own (:func:`scipy.ndimage.label`),
   writes the local ids ``1..n_b`` to a temporary array whose chunks are the blocks, and
   returns ``n_b``, each local id's first voxel (C-order linear index) and its moments;
2. on the client, block ``b``'s local id ``i`` becomes provisional id ``offset_b + i``
   (``offset`` the exclusive cumulative sum of ``n_b`` in block-id order);
3. *merge*: the pairs of provisional ids that are neighbours across block borders
   (edges and corners included), and the faces those borders expose;
4. on the client, a union-find merges them; components are numbered ``1..N`` by their
   first voxel in C order — exactly the numbering of ``scipy.ndimage.label`` on the whole
   volume — and the moments of their pieces (and border faces) are summed;
5. *write* (:func:`write_components`): each block maps its local ids to final ids.

Every step is a function of the data and the block grid only, so the result does not
depend on the number of workers or the order tasks run in; and because the numbering is
the raster order, not even on the block shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import zarr

from volseg.errors import ConfigError
from volseg.geometry import Block, BlockGrid, Box
from volseg.io import StrictArray, as_strict, strict_labels
from volseg.io._layout import scratch_compressors
from volseg.reconstruct._blocks import (
    LOCAL_DTYPE,
    Borders,
    LabelTask,
    MergeTask,
    Pieces,
    WriteTask,
    low_borders,
)
from volseg.reconstruct._options import CONNECTIVITIES, Connectivity
from volseg.reconstruct._table import Moments, add_faces
from volseg.reconstruct._unionfind import resolve_components
from volseg.runtime import BlockTask, failed_error, plan_blocks, run_task

if TYPE_CHECKING:
    from distributed import Client

IntArray = npt.NDArray[np.int64]
#: Label dtypes from the smallest up; the output gets the first that holds every id.
ID_DTYPES = ("uint8", "uint16", "uint32", "uint64")
#: Extra attempts of a block task of the passes before the pass fails.
RETRIES = 1


def map_pass(
    client: Client | None,
    name: str,
    blocks: Sequence[Block],
    process: Callable[..., Any],
    *,
    total: Box,
    progress: bool,
    read_box: Callable[[Block], Box] | None = None,
    args: Callable[[Block], tuple[Any, ...]] | None = None,
) -> list[Any]:
    """One pass: ``process`` on every block through the block runner, the results in block
    order.

    Raises
    ------
    BlocksFailedError
        Blocks failed for good (after :data:`RETRIES`): the others finish first, so the
        error (and the summary it carries) names every damaged input chunk once, with the
        blocks that need it.
    """
    task = BlockTask(
        name,
        blocks,
        process,
        total=total,
        read_box=read_box,
        retries=RETRIES,
        collect=True,
        args=args,
    )
    summary = run_task(task, client, progress=progress)
    if not summary.ok:
        raise failed_error(summary, shown=progress)
    assert summary.results is not None  # collected
    return list(summary.results)


def id_dtype(n: int) -> np.dtype:
    """The smallest unsigned dtype that holds the ids ``0..n``.

    Examples
    --------
    >>> id_dtype(255), id_dtype(256)
    (dtype('uint8'), dtype('uint16'))
    """
    for name in ID_DTYPES:
        if n <= np.iinfo(name).max:
            return np.dtype(name)
    raise ConfigError(f"{n} objects do not fit uint64 labels")


@dataclass(frozen=True)
class Components:
    """The connected components found by :func:`find_components`.

    ``counts[b]``/``offsets[b]``: local ids of block ``b`` and their provisional id offset;
    ``lut[p]``: component (``1..n``) of provisional id ``p`` (``lut[0] == 0``);
    ``moments``: one row per component, component ``i`` in row ``i - 1``. ``work`` holds
    the blocks' local ids until :func:`write_components` has used them.
    """

    grid: BlockGrid
    counts: IntArray
    offsets: IntArray
    lut: IntArray
    moments: Moments
    work: zarr.Array

    @property
    def n(self) -> int:
        return len(self.moments)


def _check(connectivity: int, class_ids: Sequence[int]) -> tuple[int, ...]:
    if connectivity not in CONNECTIVITIES:
        raise ConfigError(
            f"connectivity must be 6 (faces), 18 (faces and edges) or 26 (faces, edges and "
            f"corners), got {connectivity!r}"
        )
    ids = tuple(sorted({int(c) for c in class_ids}))
    if not ids:
        raise ConfigError("no class ids given: name at least one class to reconstruct")
    return ids


def find_components(
    labels: zarr.Array | StrictArray,
    *,
    class_ids: Sequence[int],
    work: str | Path,
    client: Client,
    connectivity: Connectivity = 26,
    block_shape: Sequence[int] | None = None,
    image: zarr.Array | StrictArray | None = None,
    measure: bool = True,
    progress: bool = True,
) -> Components:
    """Label the connected components of ``isin(labels, class_ids)``, block by block.

    Parameters
    ----------
    labels
        A ``(z, y, x)`` zarr array of class ids.
    class_ids
        The label values that make up the foreground (several are merged into one mask).
    work
        Where to write the temporary array of block-local ids (replaced if it exists).
    client
        A client of the dask cluster the blocks run on.
    connectivity
        6, 18 or 26: voxels that share a face, also an edge, also a corner are neighbours
        (as ``scipy.ndimage.generate_binary_structure(3, 1 | 2 | 3)``).
    block_shape
        Voxels per task, a whole number of ``labels`` chunks on every axis (or the whole
        axis); derived from the chunks by default.
    image
        Intensities of the same shape, for the mean intensity; None leaves it 0.
    measure
        Gather every moment of the object table; False only voxel counts and bounding
        boxes (the other sums stay 0), which is cheaper.
    progress
        Draw progress bars on stderr.

    Returns
    -------
    Components
        With ``n`` components numbered as :func:`scipy.ndimage.label` numbers them on the
        whole volume (by first voxel in C order) and their moments.

    Raises
    ------
    ConfigError
        A bad connectivity, no class ids, or an image of another shape.
    GeometryError
        A block shape that is not a whole number of chunks.
    BlocksFailedError
        Blocks failed: e.g. a corrupt chunk of the labels or the image, or a missing image
        chunk (a missing labels chunk is background), named with the blocks that need it.
    """
    ids = _check(connectivity, class_ids)
    labels = as_strict(labels, "labels")
    image = None if image is None else as_strict(image, "image")
    if image is not None and image.shape != labels.shape:
        raise ConfigError(
            f"the image has shape {image.shape} but the labels {labels.shape}; "
            "give the image level that matches the labels"
        )
    grid = plan_blocks(labels.shape, labels.chunks, block_shape)
    work_array = zarr.create_array(
        str(work),
        shape=labels.shape,
        chunks=grid.block_shape,
        dtype=LOCAL_DTYPE,
        fill_value=0,
        compressors=scratch_compressors(),
        overwrite=True,
    )
    blocks = list(grid)
    total = Box.from_shape(labels.shape)
    label = LabelTask(labels, image, work_array, ids, connectivity, measure)
    pieces: list[Pieces] = map_pass(
        client, "components: label", blocks, label, total=total, progress=progress
    )
    counts = np.array([p.n for p in pieces], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    keys = np.concatenate([np.zeros(1, np.int64), *(p.first for p in pieces)])

    sources: dict[int, tuple[tuple[Box, int], ...]] = {}
    for block in blocks:
        touching = tuple(
            (t.box, int(offsets[t.id]))
            for t in grid.blocks_touching(low_borders(block))
            if counts[t.id] > 0
        )
        if touching and any(block.box.start):  # nothing to join or expose otherwise
            sources[block.id] = touching
    borders: list[Borders] = map_pass(
        client,
        "components: merge",
        [b for b in blocks if b.id in sources],
        MergeTask(strict_labels(work_array), connectivity),
        total=total,
        read_box=low_borders,
        args=lambda block: (sources[block.id],),
        progress=progress,
    )
    pairs = np.concatenate([np.zeros((0, 2), np.int64), *(b.pairs for b in borders)])
    lut, n = resolve_components(pairs, keys)
    pieces_moments = Moments.concat([p.moments for p in pieces])
    for border in borders:
        for axis, (face_ids, face_counts) in enumerate(border.faces):
            add_faces(pieces_moments, face_ids - 1, face_counts, axis)
    moments = pieces_moments.group(lut[1:] - 1, n)
    return Components(grid, counts, offsets, lut, moments, work_array)


def write_components(
    components: Components,
    out: zarr.Array,
    *,
    client: Client,
    keep: npt.ArrayLike | None = None,
    progress: bool = True,
) -> IntArray:
    """Write the components' ids into ``out``, keeping only those marked in ``keep``.

    Kept components are renumbered ``1..k`` in their order (still the raster order);
    dropped ones become background. ``out`` must be a new (empty) array of the labels'
    shape, with chunks that tile the blocks and a dtype that holds ``k`` (see
    :func:`id_dtype`): blocks without objects are not written (zarr reads them as 0).

    Returns
    -------
    numpy.ndarray
        The new id of every component (``new[i - 1]`` for component ``i``; 0 if dropped).

    Raises
    ------
    ConfigError
        ``keep`` of the wrong length, an output of another shape, or a dtype too small.
    GeometryError
        Output chunks that the blocks do not tile (two blocks would write one chunk).
    """
    grid = components.grid
    if tuple(out.shape) != grid.shape:
        raise ConfigError(f"the output has shape {out.shape}, the labels {grid.shape}")
    plan_blocks(out.shape, out.chunks, grid.block_shape)  # one owner per output chunk
    n = components.n
    kept = np.ones(n, bool) if keep is None else np.asarray(keep, dtype=bool)
    if kept.shape != (n,):
        raise ConfigError(f"keep must have one entry per component ({n}), got {kept.shape}")
    new = np.where(kept, np.cumsum(kept), 0).astype(np.int64)
    dtype = out.dtype
    if new.size and new.max() > np.iinfo(dtype).max:
        raise ConfigError(f"{int(new.max())} objects do not fit {dtype} labels")
    final = np.concatenate([[0], new])[components.lut].astype(dtype)

    def lut(block: Block) -> tuple[npt.NDArray[Any]]:
        """The final id of each local id of ``block`` (made as its task is submitted)."""
        start = int(components.offsets[block.id])
        nb = int(components.counts[block.id])
        return (np.concatenate([np.zeros(1, dtype), final[start + 1 : start + nb + 1]]),)

    map_pass(
        client,
        "components: write",
        [b for b in grid if components.counts[b.id]],  # blocks without objects stay 0
        WriteTask(strict_labels(components.work), out),
        total=Box.from_shape(grid.shape),
        args=lut,
        progress=progress,
    )
    return new
