"""A block task: what one run of the block runner does (daisy's ``Task``), checked when made."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar, get_args

from volseg.errors import ConfigError, GeometryError
from volseg.geometry import BlockGrid, Box
from volseg.runtime._ledger import Ledger


class Unit(Protocol):
    """What the runner needs of a unit of work: a stable ``id`` and a readable ``name``
    (a :class:`~volseg.geometry.Block`, or a study's training run). A unit with a ``box``
    (a :class:`~volseg.geometry.Box`) writes that box."""

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...


U = TypeVar("U", bound=Unit)

#: What a block that still fails after its retries does to the run: ``"collect"`` reports
#: it in the summary while the other blocks finish; ``"raise"`` cancels the blocks in flight
#: and raises its exception, with a note naming the block.
FailurePolicy = Literal["collect", "raise"]


def box_of(unit: Any) -> Box | None:
    """The box a unit writes (its ``box``), or None for a unit without one."""
    box = getattr(unit, "box", None)
    return box if isinstance(box, Box) else None


def box_voxels(unit: Any) -> int:
    """Voxels of the box a unit writes (0 without one): the runner's default throughput."""
    box = box_of(unit)
    return 0 if box is None else box.size


@dataclass(frozen=True)
class BlockTask(Generic[U]):
    """One stage of a job as the block runner (:func:`~volseg.runtime.run_task`) runs it.

    Parameters
    ----------
    name
        Names the run in task keys, the progress bar, the summary and error notes.
    blocks
        The units of work: a :class:`~volseg.geometry.BlockGrid` (every block), or any
        sequence of units with distinct ids (blocks, or e.g. a study's runs). Results are
        collected in this order.
    process
        The block function, ``process(block, *args(block))``: picklable, idempotent (a
        block may run twice, e.g. when its worker dies); it reads ``read_box(block)``,
        writes its block's box and returns small results (a dict of numbers is summed into
        the summary's ``stats_sum`` and stored with the block's done marker).
    total
        The volume the blocks split: every write box must lie in it. Default: the grid's
        volume for a ``BlockGrid``; None for other units means no such check.
    read_box
        The region ``process`` reads for a block, which must contain the block's own box
        (its write box); None: the block's box (no halo).
    done
        The done check: a started :class:`~volseg.runtime.Ledger`. Blocks it marks done
        are skipped, and each block that finishes is marked done in it. None: nothing is
        ever done beforehand, and nothing is recorded.
    retries
        Extra attempts of a failing block before it counts as failed. (A block whose
        worker dies is rescheduled by dask on its own, up to the scheduler's
        ``distributed.scheduler.allowed-failures``.)
    resources
        What each task needs of a worker, e.g. ``{"GPU": 1}``: a worker runs at most as many
        at once as it has. Workers must declare them.
    voxels_of
        Voxels a block counts for in the throughput; default its box size (0 for units
        without a box: no rate is shown then).
    unit
        What the progress bar counts (``blocks``, ``runs``).
    on_failure
        ``"collect"``: a block failing for good is reported in the summary's ``failed``
        and the others finish. ``"raise"``: it cancels the others, and its exception is
        raised again with a note naming the block.
    collect
        Keep every block's return value: the summary's ``results``, in block order.
    args
        Extra arguments of one block's call, made on the client as the block is submitted
        and sent with that block's task alone (per-block data that would be wasteful to
        send with every task); None: ``process(block)``.

    Raises
    ------
    GeometryError
        Two blocks with one id, a read box that does not contain its block's box, or a
        block outside ``total`` (the message names the block).
    ConfigError
        Negative retries or an unknown failure policy.

    Examples
    --------
    >>> grid = BlockGrid((4, 10, 10), (2, 5, 5))
    >>> task = BlockTask("toy", grid, process=lambda block: {"voxels": block.box.size})
    >>> task.total, len(task)
    (Box(start=(0, 0, 0), stop=(4, 10, 10)), 8)
    """

    name: str
    blocks: BlockGrid | Sequence[U]
    process: Callable[..., Any]
    total: Box | None = None
    read_box: Callable[[U], Box] | None = None
    done: Ledger | None = None
    retries: int = 2
    resources: Mapping[str, float] | None = None
    voxels_of: Callable[[U], int] = box_voxels
    unit: str = "blocks"
    on_failure: FailurePolicy = "collect"
    collect: bool = False
    args: Callable[[U], tuple[Any, ...]] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.blocks, BlockGrid):
            if self.total is None:
                object.__setattr__(self, "total", Box.from_shape(self.blocks.shape))
        else:
            object.__setattr__(self, "blocks", tuple(self.blocks))
        if self.on_failure not in get_args(FailurePolicy):
            raise ConfigError(
                f"{self.name}: on_failure must be one of {get_args(FailurePolicy)}, "
                f"got {self.on_failure!r}"
            )
        if self.retries < 0:
            raise ConfigError(f"{self.name}: retries must be 0 or more, got {self.retries}")
        self._check_blocks()

    def _check_blocks(self) -> None:
        seen: set[int] = set()
        for block in self:
            if block.id in seen:
                raise GeometryError(
                    f"{self.name}: two blocks have the id {block.id} ({block.name}); "
                    "block ids must be unique"
                )
            seen.add(block.id)
            write = box_of(block)
            if write is None:
                continue
            if self.total is not None and not self.total.contains(write):
                raise GeometryError(
                    f"{self.name}: {block.name} writes {write}, outside the volume "
                    f"{self.total}; plan the blocks on the volume's shape"
                )
            read = self.read_box_of(block)
            if not read.contains(write):
                raise GeometryError(
                    f"{self.name}: {block.name} reads {read}, which does not contain the "
                    f"box {write} it writes; a block must read at least what it writes"
                )

    def __iter__(self) -> Iterator[U]:
        return iter(self.blocks)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.blocks)

    def read_box_of(self, block: U) -> Box:
        """The region ``block`` reads: ``read_box(block)``, else its own box."""
        if self.read_box is not None:
            return self.read_box(block)
        box = box_of(block)
        if box is None:
            raise GeometryError(f"{self.name}: {block.name} has no box to read")
        return box

    def call_args(self, block: U) -> tuple[Any, ...]:
        """The arguments of ``process`` for ``block``: the block, then ``args(block)``."""
        return (block,) if self.args is None else (block, *self.args(block))

    def describe(self, block: U) -> str:
        """``block``'s name and box, for messages."""
        box = box_of(block)
        return block.name if box is None else f"{block.name} ({box})"
