"""Bounded submission: at most N tasks in flight, results taken as they complete."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from distributed import Client, Future

T = TypeVar("T")
_END = object()


def as_completed_bounded(
    client: Client,
    items: Iterable[T],
    submit: Callable[[T], Future],
    limit: Callable[[], int],
) -> Generator[tuple[Future, T], None, None]:
    """Submit ``submit(item)`` for each item, keeping at most ``limit()`` in flight, and
    yield ``(future, item)`` as each finishes (or fails); more are submitted as they do.

    Bounding the in-flight work keeps the scheduler's and the client's memory flat for any
    number of blocks. ``limit`` is called before each refill (it may change, e.g. as SLURM
    workers join). Use it inside :func:`contextlib.closing`: when the consumer stops early
    (an exception, Ctrl-C) the tasks still in flight are cancelled.
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
        for future in queue:
            _, item = in_flight.pop(str(future.key))
            yield future, item
            del future
            fill()
    finally:
        if in_flight:  # the client may be gone already
            with contextlib.suppress(Exception):
                client.cancel([f for f, _ in in_flight.values()])
