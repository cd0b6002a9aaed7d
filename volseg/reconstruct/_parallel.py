"""Run block tasks on a dask cluster and collect their (small) results."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from volseg.errors import ClusterConnectionError
from volseg.geometry import Block
from volseg.runtime._progress import BlockProgress

if TYPE_CHECKING:
    from distributed import Client, Future

R = TypeVar("R")
#: Tasks in flight at least: enough to hide the client–scheduler round trip of small tasks.
_MIN_IN_FLIGHT = 16


def submission_order(n: int) -> list[int]:
    """The order tasks are submitted in: block id order (results never depend on it)."""
    return list(range(n))


def map_blocks(
    client: Client,
    fn: Callable[..., R],
    calls: Sequence[tuple[Any, ...]],
    *,
    description: str,
    progress: bool,
    retries: int = 1,
) -> list[R]:
    """``[fn(*call) for call in calls]`` on the cluster, in the order of ``calls``.

    The first argument of every call is its :class:`~volseg.geometry.Block`.

    At most four times the cluster's threads (16 or more) are in flight, so scheduler and
    client memory stay flat. The first task that fails for good cancels the others and its
    exception is raised again here, with a note naming the block.
    """
    from distributed import as_completed

    results: list[Any] = [None] * len(calls)
    token = uuid.uuid4().hex[:8]
    order = iter(submission_order(len(calls)))
    in_flight: dict[str, tuple[Future, int]] = {}
    queue = as_completed(loop=client.loop, with_results=False)
    limit = max(_MIN_IN_FLIGHT, 4 * sum(int(n) for n in client.nthreads().values()))

    def submit_next() -> bool:
        i = next(order, None)
        if i is None:
            return False
        block: Block = calls[i][0]
        key = f"{description.replace(' ', '-')}-{block.id}-{token}"
        future = client.submit(fn, *calls[i], key=key, retries=retries, pure=False)
        in_flight[str(future.key)] = (future, i)
        queue.add(future)
        return True

    bar = BlockProgress(description, total=len(calls), skipped=0, enabled=progress)
    try:
        with bar:
            while len(in_flight) < limit and submit_next():
                pass
            for future in queue:
                _, i = in_flight.pop(str(future.key))
                block: Block = calls[i][0]
                if future.status == "error":
                    exc = future.exception()
                    assert exc is not None
                    exc.add_note(f"volseg: {description} failed on {block.name} ({block.box})")
                    raise exc
                if future.status != "finished":
                    raise ClusterConnectionError(
                        f"lost {block.name} (task {future.status}) during {description}: the "
                        "dask scheduler went away; check the cluster and run again"
                    )
                results[i] = future.result()
                bar.advance(block.box.size)
                while len(in_flight) < limit and submit_next():
                    pass
    finally:
        if in_flight:
            with contextlib.suppress(Exception):
                client.cancel([f for f, _ in in_flight.values()])
    return results
