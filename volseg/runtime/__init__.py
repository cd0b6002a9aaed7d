"""Execution of volseg jobs with dask.

Local thread pools for small jobs (:func:`run_tasks`), and the block runtime of the stages
that write a store (segment, reconstruct, classify, study) on dask.distributed: a
chunk-aligned plan (:func:`plan_blocks`), a :class:`BlockTask` (the blocks, their read and
write boxes, the process function, the done check, retries, a failure policy) run by the
one runner :func:`run_task`, run state kept in the output store (:class:`RunLock`,
:class:`Ledger`), the lock held from the output's creation to the end of the run
(:func:`open_run`), and a cluster (:func:`connect`, :func:`slurm_cluster`).

Examples
--------
>>> grid = plan_blocks(labels.shape, labels.chunks)  # doctest: +SKIP
>>> with open_run(out, create=make_store, overwrite=overwrite) as store:  # doctest: +SKIP
...     ledger = Ledger(out)
...     ledger.start(layout, resume=False)  # layout: shape, chunks, block, config, weights
...     with connect(scheduler) as client:
...         summary = run_task(BlockTask("segment", grid, predict_block, done=ledger), client)
>>> if not summary.ok:  # doctest: +SKIP
...     raise SystemExit(1)
"""

from volseg.runtime._cluster import (
    ClusterHandle,
    client_or_connect,
    connect,
    local_cluster_size,
)
from volseg.runtime._ledger import Ledger, layout_hash
from volseg.runtime._local import default_workers, run_tasks
from volseg.runtime._lock import RunLock
from volseg.runtime._output import check_output, is_volseg_store, open_run
from volseg.runtime._plan import TARGET_BLOCK_BYTES, default_block_shape, plan_blocks
from volseg.runtime._run import run_task
from volseg.runtime._slurm import SLURM_EXAMPLE, slurm_cluster, slurm_options
from volseg.runtime._state import RUN_DIR, run_dir
from volseg.runtime._summary import RunSummary, attach_summary, failed_error
from volseg.runtime._task import BlockTask, FailurePolicy, Unit

__all__ = [
    "RUN_DIR",
    "SLURM_EXAMPLE",
    "TARGET_BLOCK_BYTES",
    "BlockTask",
    "ClusterHandle",
    "FailurePolicy",
    "Ledger",
    "RunLock",
    "RunSummary",
    "Unit",
    "attach_summary",
    "check_output",
    "client_or_connect",
    "connect",
    "default_block_shape",
    "default_workers",
    "failed_error",
    "is_volseg_store",
    "layout_hash",
    "local_cluster_size",
    "open_run",
    "plan_blocks",
    "run_dir",
    "run_task",
    "run_tasks",
    "slurm_cluster",
    "slurm_options",
]
