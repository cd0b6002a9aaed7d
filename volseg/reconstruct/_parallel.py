"""Run block tasks on a dask cluster and collect their (small) results."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from volseg.errors import ClusterConnectionError
from volseg.geometry import Block
from volseg.runtime._bounded import as_completed_bounded
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
    results: list[Any] = [None] * len(calls)
    token = uuid.uuid4().hex[:8]
    cap = max(_MIN_IN_FLIGHT, 4 * sum(int(n) for n in client.nthreads().values()))

    def submit(i: int) -> Future:
        block: Block = calls[i][0]
        key = f"{description.replace(' ', '-')}-{block.id}-{token}"
        return client.submit(fn, *calls[i], key=key, retries=retries, pure=False)

    bar = BlockProgress(description, total=len(calls), skipped=0, enabled=progress)
    order = submission_order(len(calls))
    with bar, contextlib.closing(as_completed_bounded(client, order, submit, lambda: cap)) as run:
        for future, i in run:
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
    return results
