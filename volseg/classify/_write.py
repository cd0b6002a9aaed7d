"""The block task that writes classified labels: object ids → final (split) ids → classes.

Final objects are the pieces of the objects, numbered in (object, piece) order. An object
that was not cut maps to one id through a lookup table; a cut object's voxels look their
piece up in its piece map (saved by :class:`~volseg.classify._objects.ObjectTask`, on the
grid of the object's possibly downsampled mask).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import zarr

from volseg._files import write_atomically
from volseg.classify._objects import ObjectPieces, piece_map_path
from volseg.geometry import Block
from volseg.io import StrictArray

__all__ = ["ClassifyBlock", "write_lookup"]


def write_lookup(
    pieces: Sequence[ObjectPieces], classes: npt.ArrayLike, folder: str | Path
) -> tuple[int, str, Path]:
    """Save the lookup of final ids and classes into ``folder`` (``.npz``).

    ``classes[f - 1]`` is the class label value of final object ``f``. Returns the number of
    final objects, the sha256 of the lookup (the identity of the run's outcome) and the
    file, which is named after that sha256: workers cache lookups by path, so another
    outcome in the same folder is never read from a stale cache.
    """
    n_obj = len(pieces)
    counts = np.array([0, *(p.n for p in pieces)], dtype=np.int64)
    first = np.zeros(n_obj + 1, np.int64)  # the final id of each object's first piece
    first[1:] = np.cumsum(counts[1:]) - counts[1:] + 1
    start = np.zeros((n_obj + 1, 3), np.int64)
    factor = np.ones((n_obj + 1, 3), np.int64)
    for p in pieces:
        start[p.object_id] = p.start
        factor[p.object_id] = p.factor
    cls = np.concatenate([[0], np.asarray(classes, dtype=np.uint8)])
    if len(cls) != int(counts.sum()) + 1:
        raise ValueError(f"{len(cls) - 1} classes for {int(counts.sum())} pieces")
    arrays = {"first": first, "count": counts, "start": start, "factor": factor, "cls": cls}
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(name.encode() + np.ascontiguousarray(arrays[name]).tobytes())
    sha = digest.hexdigest()
    path = write_atomically(
        Path(folder) / f"lookup-{sha[:16]}.npz",
        lambda f: np.savez(f, **arrays),  # type: ignore[arg-type]
    )
    return int(counts.sum()), sha, path


@functools.lru_cache(maxsize=4)
def _lookup(path: str) -> dict[str, npt.NDArray[Any]]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


@dataclass(frozen=True)
class ClassifyBlock:
    """Write one block of ``labels/classified`` (classes) and ``labels/objects`` (ids)."""

    components: StrictArray
    classified: zarr.Array
    objects: zarr.Array
    lookup: str
    work: str

    def __call__(self, block: Block) -> dict[str, Any]:
        # small dtypes throughout: lookups into uint8/uint16 tables are several times faster
        ids = np.asarray(self.components[block.box.slices])
        table = _lookup(self.lookup)
        final = table["first"].astype(self.objects.dtype)[ids]
        was_cut = table["count"] > 1
        for c in np.unique(ids[was_cut[ids]]):
            where = np.nonzero(ids == c)
            piece_map = np.load(piece_map_path(self.work, int(c)))
            coarse = tuple(
                (w + block.box.start[a] - table["start"][c, a]) // table["factor"][c, a]
                for a, w in enumerate(where)
            )
            final[where] = table["first"][c] + piece_map[coarse] - 1
        self.objects[block.box.slices] = final
        self.classified[block.box.slices] = table["cls"][final]
        return {"object_voxels": int(np.count_nonzero(final))}
