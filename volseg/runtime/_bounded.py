"""Bounded submission: at most N tasks in flight, results taken as they complete."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from distributed import Client, Future

T = TypeVar("T")
_END = object()
#: Seconds between calls of the ``idle`` check while no task finishes.
IDLE_S = 1.0


def _ready(queue: Any, idle: Callable[[], None] | None) -> list[Future]:
    """The futures that finished, waiting for one; ``idle()`` every :data:`IDLE_S` seconds
    while none does (it may raise, to stop waiting on a cluster that is gone)."""
    last = time.monotonic()
    while not queue.has_ready():
        if idle is not None and time.monotonic() - last >= IDLE_S:
            idle()
            last = time.monotonic()
        with queue.thread_condition:  # notified as a future finishes (as_completed's own wait)
            queue.thread_condition.wait(timeout=0.1)
    return list(queue.next_batch(block=False))


def as_completed_bounded(
    client: Client,
    items: Iterable[T],
    submit: Callable[[T], Future],
    limit: Callable[[], int],
    idle: Callable[[], None] | None = None,
) -> Generator[tuple[Future, T], None, None]:
    """Submit ``submit(item)`` for each item, keeping at most ``limit()`` in flight, and
    yield ``(future, item)`` as each finishes (or fails); more are submitted as they do.

    Bounding the in-flight work keeps the scheduler's and the client's memory flat for any
    number of blocks. ``limit`` is called before each refill (it may change, e.g. as SLURM
    workers join). Use it inside :func:`contextlib.closing`: when the consumer stops early
    (an exception, Ctrl-C) the tasks still in flight are cancelled. ``idle`` is called
    every :data:`IDLE_S` seconds while no task finishes; an exception it raises stops the
    run like the consumer's (a cluster whose workers are all gone never finishes a task).
    """
    from distributed import as_completed

    pending = iter(items)
    in_flight: dict[str, tuple[Future, T]] = {}
    queue = as_completed(loop=client.loop, with_results=False)

    def fill() -> None:
        cap = limit()
        while len(in_flight) < cap:
            item = next(pending, _END)
            if item is _END:
                return
            future = submit(item)  # type: ignore[arg-type]
            in_flight[str(future.key)] = (future, item)  # type: ignore[assignment]
            queue.add(future)

    try:
        fill()
        while in_flight:
            batch = _ready(queue, idle)
            batch.reverse()
            while batch:
                future = batch.pop()  # held by nothing once yielded: results freed early
                item = in_flight.pop(str(future.key))[1]  # a bound `_` would hold it
                yield future, item
                del future
                fill()
    finally:
        if in_flight:  # the client may be gone already
            with contextlib.suppress(Exception):
                client.cancel([f for f, _ in in_flight.values()])
