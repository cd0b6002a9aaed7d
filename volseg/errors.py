"""One exception hierarchy for volseg.

Every error also subclasses the matching builtin (``ValueError``, ``FileNotFoundError``, ...)
so callers can catch either. Messages name the object at fault (file, store path, chunk,
block, axis) and say how to fix it.
"""

from __future__ import annotations

__all__ = [
    "BlocksFailedError",
    "CheckpointError",
    "ClassifierError",
    "ClusterConnectionError",
    "ConfigError",
    "CorruptChunkError",
    "CorruptInputError",
    "GeometryError",
    "IncompleteStoreError",
    "InputError",
    "InputNotFoundError",
    "InvalidStoreError",
    "MissingChunkError",
    "ResumeMismatchError",
    "RunLockedError",
    "RunStateExistsError",
    "StoreError",
    "StoreExistsError",
    "StoreNotFoundError",
    "VolsegError",
]


class VolsegError(Exception):
    """Base class of every error raised by volseg."""


class ConfigError(VolsegError, ValueError):
    """An option or configuration value is invalid."""


class GeometryError(VolsegError, ValueError):
    """Boxes, grids or chunkings that do not fit together."""


class InputError(VolsegError, ValueError):
    """Input data that volseg cannot use as it is (shape, dtype, colour, mismatch)."""


class CorruptInputError(InputError):
    """An input file that cannot be read or decoded (unreadable, truncated, not an image)."""


class InputNotFoundError(VolsegError, FileNotFoundError):
    """An input path that does not exist or holds nothing to read."""


class StoreError(VolsegError):
    """Base class of errors about a volseg output store."""


class StoreExistsError(StoreError, FileExistsError):
    """The output store exists already and overwriting was not asked for."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """No store (or no array/labels inside it) at the given path."""


class InvalidStoreError(StoreError, ValueError):
    """A store whose layout or metadata is not what volseg writes."""


class CorruptChunkError(StoreError, ValueError):
    """A stored chunk that fails its checksum or cannot be decoded (flipped bytes, truncated)."""


class MissingChunkError(StoreError, FileNotFoundError):
    """An image chunk that is not in the store (volseg writes every image chunk)."""


class IncompleteStoreError(StoreError, RuntimeError):
    """A store whose writing never finished (interrupted or failed)."""


class CheckpointError(VolsegError, ValueError):
    """A model checkpoint that cannot be used: unreadable, corrupted, or incompatible."""


class ClassifierError(VolsegError, ValueError):
    """An object classifier file that cannot be used: unreadable, altered, untrusted content,
    or trained on other features or classes than the ones at hand."""


class RunLockedError(StoreError, RuntimeError):
    """Another run holds the lock of this output store (two writers would corrupt it)."""


class ResumeMismatchError(StoreError, ValueError):
    """A resume asked with a layout/config that differs from the interrupted run's."""


class RunStateExistsError(StoreExistsError):
    """The output holds a previous run's ledger and neither resume nor reset was asked for."""


class ClusterConnectionError(VolsegError, ConnectionError):
    """The dask scheduler cannot be reached, or was lost during a run."""


class BlocksFailedError(VolsegError, RuntimeError):
    """Blocks of a job failed for good (a damaged input chunk, an error in the block), so
    the job cannot finish; the message names the chunks and the blocks."""
