"""Execution of volseg jobs with dask.

Local thread pools for small jobs (:func:`run_tasks`), and the block runtime of
``volseg segment`` on dask.distributed: a chunk-aligned plan (:func:`plan_blocks`), run
state kept in the output store (:class:`RunLock`, :class:`Ledger`), a cluster
(:func:`connect`, :func:`slurm_cluster`) and the resumable run itself (:func:`run_blocks`).

Examples
--------
>>> grid = plan_blocks(labels.shape, labels.chunks)  # doctest: +SKIP
>>> with RunLock(out), connect(scheduler) as client:  # doctest: +SKIP
...     ledger = Ledger(out)
...     ledger.start(layout, resume=resume)  # layout: shape, chunks, block, config, weights
...     summary = run_blocks(client, grid, predict_block, ledger=ledger)
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
from volseg.runtime._plan import TARGET_BLOCK_BYTES, default_block_shape, plan_blocks
from volseg.runtime._run import run_blocks
from volseg.runtime._slurm import SLURM_EXAMPLE, slurm_cluster, slurm_options
from volseg.runtime._state import RUN_DIR, run_dir
from volseg.runtime._summary import RunSummary

__all__ = [
    "RUN_DIR",
    "SLURM_EXAMPLE",
    "TARGET_BLOCK_BYTES",
    "ClusterHandle",
    "Ledger",
    "RunLock",
    "RunSummary",
    "client_or_connect",
    "connect",
    "default_block_shape",
    "default_workers",
    "layout_hash",
    "local_cluster_size",
    "plan_blocks",
    "run_blocks",
    "run_dir",
    "run_tasks",
    "slurm_cluster",
    "slurm_options",
]
