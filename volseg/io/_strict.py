"""Arrays that every job reads strictly: a damaged chunk is an error naming the array and
its key (design invariants 6 and 8), wherever the read happens — a block task, a dask
graph, a study run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr

from volseg.io._read import Kind, array_location, read_selection

if TYPE_CHECKING:
    import dask.array as da


@dataclass(frozen=True)
class StrictArray:
    """A zarr array read only through :func:`~volseg.io.read_selection`.

    It indexes like the array for basic selections (integers and slices, steps included):
    ``strict[z]``, ``strict[box.slices]``, ``strict[:, ::2, ::2]``. A chunk that fails its
    checksum or cannot be decoded is a :class:`~volseg.errors.CorruptChunkError` naming the
    array and the chunk key; a missing image chunk a
    :class:`~volseg.errors.MissingChunkError` (unless ``fill_missing``); a missing labels
    chunk reads as background. Small and picklable (a zarr array pickles as its store and
    metadata), so block tasks carry it to the workers.

    Parameters
    ----------
    array
        The zarr array (writes go to it directly: ``strict.array[...] = ...``).
    kind
        ``"image"`` (every chunk stored) or ``"labels"`` (absent chunks are background).
    fill_missing
        Read a missing image chunk as the fill value (``--fill-missing``, a foreign store).

    Examples
    --------
    >>> image = strict_image(VolumeStore.open("v.zarr").image(0))  # doctest: +SKIP
    >>> image[3].shape  # slice z = 3, every chunk it needs checked  # doctest: +SKIP
    """

    array: zarr.Array
    kind: Kind = "image"
    fill_missing: bool = False

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(self.array.dtype)

    @property
    def ndim(self) -> int:
        return len(self.array.shape)

    @property
    def chunks(self) -> tuple[int, ...]:
        return tuple(self.array.chunks)

    @property
    def location(self) -> str:
        """Where the array lives (a local path when on disk), for messages."""
        return array_location(self.array)

    def __getitem__(self, key: Any) -> np.ndarray:
        return read_selection(self.array, key, kind=self.kind, fill_missing=self.fill_missing)

    def __len__(self) -> int:
        return self.shape[0]

    def to_dask(self, chunks: Any = None) -> da.Array:
        """A dask array whose tasks read through this one (default: one task per chunk)."""
        import dask.array as da

        chunks = self.chunks if chunks is None else chunks
        token = da.core.tokenize(self.location, self.shape, self.kind, self.fill_missing, chunks)
        return da.from_array(
            self,
            chunks=chunks,
            name=f"strict-{self.kind}-{token}",
            asarray=False,
            fancy=False,
            meta=np.empty((0,) * self.ndim, dtype=self.dtype),
        )

    def __repr__(self) -> str:
        return f"StrictArray({self.location!r}, kind={self.kind!r}, shape={self.shape})"


def strict_image(array: zarr.Array, *, fill_missing: bool = False) -> StrictArray:
    """An image array read strictly: a missing or corrupt chunk is an error naming its key."""
    return StrictArray(array, "image", fill_missing)


def strict_labels(array: zarr.Array) -> StrictArray:
    """A label array read strictly: a corrupt chunk is an error naming its key, a missing
    chunk is background (label writers omit all-background chunks)."""
    return StrictArray(array, "labels")


def as_strict(array: zarr.Array | StrictArray, kind: Kind) -> StrictArray:
    """``array`` as a :class:`StrictArray` of ``kind`` (kept as it is when it is one)."""
    return array if isinstance(array, StrictArray) else StrictArray(array, kind)
