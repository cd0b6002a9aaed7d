"""Geometry vocabulary: boxes (regions of interest) and block grids with deterministic ids.

Everything in volseg that talks about a region of a volume uses :class:`Box`; everything
that splits a volume into units of work uses :class:`BlockGrid` and :class:`Block`.
Coordinates are voxel indices in (z, y, x) order, half-open ``[start, stop)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from volseg.errors import GeometryError

__all__ = ["Block", "BlockGrid", "Box", "check_chunk_aligned"]


def _ints(values: Sequence[int], what: str) -> tuple[int, ...]:
    out = tuple(int(v) for v in values)
    if any(o != v for o, v in zip(out, values, strict=True)):
        raise GeometryError(f"{what} must be integers, got {tuple(values)}")
    return out


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned, half-open box ``[start, stop)`` in voxel coordinates.

    Examples
    --------
    >>> box = Box((0, 10, 20), (4, 30, 25))
    >>> box.shape
    (4, 20, 5)
    >>> box.grow(2).clip(Box.from_shape((8, 64, 64))).shape
    (6, 24, 9)
    """

    start: tuple[int, ...]
    stop: tuple[int, ...]

    def __post_init__(self) -> None:
        start = _ints(self.start, "Box start")
        stop = _ints(self.stop, "Box stop")
        if len(start) != len(stop):
            raise GeometryError(f"Box start {start} and stop {stop} differ in length")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "stop", stop)

    @classmethod
    def from_shape(cls, shape: Sequence[int], offset: Sequence[int] | None = None) -> Box:
        """The box of ``shape`` starting at ``offset`` (the origin by default)."""
        offset = tuple(offset) if offset is not None else (0,) * len(shape)
        return cls(tuple(offset), tuple(o + s for o, s in zip(offset, shape, strict=True)))

    @property
    def ndim(self) -> int:
        return len(self.start)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(max(0, b - a) for a, b in zip(self.start, self.stop, strict=True))

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def empty(self) -> bool:
        return self.size == 0

    @property
    def slices(self) -> tuple[slice, ...]:
        """Slices selecting this box from an array anchored at the origin."""
        return tuple(slice(a, b) for a, b in zip(self.start, self.stop, strict=True))

    def relative_to(self, outer: Box) -> tuple[slice, ...]:
        """Slices selecting this box from an array that holds ``outer``."""
        if not outer.contains(self):
            raise GeometryError(f"{self} is not inside {outer}")
        return tuple(
            slice(a - o, b - o) for a, b, o in zip(self.start, self.stop, outer.start, strict=True)
        )

    def intersect(self, other: Box) -> Box:
        """The overlap of two boxes (possibly empty)."""
        self._same_ndim(other)
        start = tuple(max(a, b) for a, b in zip(self.start, other.start, strict=True))
        stop = tuple(
            max(s, min(a, b)) for s, a, b in zip(start, self.stop, other.stop, strict=True)
        )
        return Box(start, stop)

    def union(self, other: Box) -> Box:
        """The smallest box holding both boxes."""
        self._same_ndim(other)
        return Box(
            tuple(min(a, b) for a, b in zip(self.start, other.start, strict=True)),
            tuple(max(a, b) for a, b in zip(self.stop, other.stop, strict=True)),
        )

    def intersects(self, other: Box) -> bool:
        return not self.intersect(other).empty

    def contains(self, other: Box) -> bool:
        self._same_ndim(other)
        return all(
            a <= c and d <= b
            for a, b, c, d in zip(self.start, self.stop, other.start, other.stop, strict=True)
        )

    def grow(self, margin: int | Sequence[int]) -> Box:
        """The box grown by ``margin`` voxels on both sides of every axis (a halo)."""
        m = (margin,) * self.ndim if isinstance(margin, int) else tuple(margin)
        return Box(
            tuple(a - g for a, g in zip(self.start, m, strict=True)),
            tuple(b + g for b, g in zip(self.stop, m, strict=True)),
        )

    def clip(self, bounds: Box) -> Box:
        """This box clipped to ``bounds``."""
        return self.intersect(bounds)

    def shift(self, offset: Sequence[int]) -> Box:
        return Box(
            tuple(a + o for a, o in zip(self.start, offset, strict=True)),
            tuple(b + o for b, o in zip(self.stop, offset, strict=True)),
        )

    def _same_ndim(self, other: Box) -> None:
        if other.ndim != self.ndim:
            raise GeometryError(f"cannot combine a {self.ndim}D box with a {other.ndim}D box")

    def __str__(self) -> str:
        return "[" + ", ".join(f"{a}:{b}" for a, b in zip(self.start, self.stop, strict=True)) + "]"


@dataclass(frozen=True, slots=True)
class Block:
    """One unit of work: a box of the volume with a deterministic id.

    ``id`` is the C-order linear index of ``index`` in the grid, so the same grid always
    gives the same ids whatever the order blocks are visited or executed in.
    """

    id: int
    index: tuple[int, ...]
    box: Box

    @property
    def name(self) -> str:
        """A readable, sortable name such as ``"block 17 (z0 y2 x1)"``."""
        axes = "zyx" if len(self.index) == 3 else "".join(f"a{i}" for i in range(len(self.index)))
        return (
            f"block {self.id} ("
            + " ".join(f"{a}{i}" for a, i in zip(axes, self.index, strict=False))
            + ")"
        )


@dataclass(frozen=True, slots=True)
class BlockGrid:
    """A regular grid of blocks covering ``shape``; edge blocks are clipped to the volume.

    Examples
    --------
    >>> grid = BlockGrid((10, 100), (4, 64))
    >>> grid.grid_shape, len(grid)
    ((3, 2), 6)
    >>> grid.block(5).box
    Box(start=(8, 64), stop=(10, 100))
    """

    shape: tuple[int, ...]
    block_shape: tuple[int, ...]

    def __post_init__(self) -> None:
        shape = _ints(self.shape, "grid shape")
        block_shape = _ints(self.block_shape, "block shape")
        if len(shape) != len(block_shape):
            raise GeometryError(
                f"volume shape {shape} and block shape {block_shape} differ in dimensions"
            )
        if any(s < 0 for s in shape):
            raise GeometryError(f"volume shape {shape} has a negative extent")
        if any(b <= 0 for b in block_shape):
            raise GeometryError(f"block shape {block_shape} must be positive on every axis")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "block_shape", block_shape)

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(-(-s // b) for s, b in zip(self.shape, self.block_shape, strict=True))

    def __len__(self) -> int:
        return math.prod(self.grid_shape)

    def __iter__(self) -> Iterator[Block]:
        for i in range(len(self)):
            yield self.block(i)

    def block(self, block_id: int) -> Block:
        """The block with linear id ``block_id`` (C order)."""
        if not 0 <= block_id < len(self):
            raise GeometryError(f"block id {block_id} is outside the grid of {len(self)} blocks")
        index = []
        rest = block_id
        for n in reversed(self.grid_shape):
            index.append(rest % n)
            rest //= n
        return self.block_at(tuple(reversed(index)))

    def block_at(self, index: Sequence[int]) -> Block:
        """The block at grid position ``index``."""
        index = tuple(index)
        if len(index) != len(self.shape) or any(
            not 0 <= i < n for i, n in zip(index, self.grid_shape, strict=True)
        ):
            raise GeometryError(f"block index {index} is outside grid {self.grid_shape}")
        start = tuple(i * b for i, b in zip(index, self.block_shape, strict=True))
        stop = tuple(
            min(a + b, s) for a, b, s in zip(start, self.block_shape, self.shape, strict=True)
        )
        block_id = 0
        for i, n in zip(index, self.grid_shape, strict=True):
            block_id = block_id * n + i
        return Block(block_id, index, Box(start, stop))

    def blocks_touching(self, box: Box) -> list[Block]:
        """The blocks whose box intersects ``box``, in id order."""
        box = box.clip(Box.from_shape(self.shape))
        if box.empty:
            return []
        ranges = [
            range(a // b, -(-c // b))
            for a, c, b in zip(box.start, box.stop, self.block_shape, strict=True)
        ]
        return [self.block_at(idx) for idx in itertools.product(*ranges)]


def check_chunk_aligned(box: Box, chunks: Sequence[int], shape: Sequence[int]) -> None:
    """Raise unless ``box`` covers a whole number of chunks of an array of ``shape``.

    A box edge is aligned when it falls on a chunk boundary or on the array's end. Writers
    whose regions are aligned never share a chunk (one owner per chunk).

    Raises
    ------
    GeometryError
        Naming the axis and the offending edge, with the chunk size to align to.
    """
    for axis, (a, b, c, s) in enumerate(zip(box.start, box.stop, chunks, shape, strict=True)):
        if a % c != 0:
            raise GeometryError(
                f"box {box} starts at {a} on axis {axis}, not a multiple of the chunk size {c}; "
                f"choose block sizes that are multiples of the chunks {tuple(chunks)}"
            )
        if b % c != 0 and b != s:
            raise GeometryError(
                f"box {box} ends at {b} on axis {axis}, neither a multiple of the chunk size {c} "
                f"nor the array end {s}; choose block sizes that are multiples of the chunks "
                f"{tuple(chunks)}"
            )
