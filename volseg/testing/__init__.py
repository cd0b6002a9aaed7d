"""Public helpers for testing code that uses volseg: slice writers, faulty inputs, memory,
external dask clusters, tiny models, faults injected into real runs."""

from volseg.testing._cli import run_volseg, volseg_command
from volseg.testing._cluster import (
    ExternalCluster,
    dask_cli,
    executing_tasks,
    external_cluster,
    wait_until,
)
from volseg.testing._datasets import blob_images, write_blob_dataset
from volseg.testing._faults import Fault, Faults, FaultWrite, inject_faults
from volseg.testing._memory import MemoryUse, peak_rss_mib_of
from volseg.testing._models import IntegerConvNet, write_tiny_checkpoint
from volseg.testing._slices import truncate_file, write_slices
from volseg.testing._stores import write_labels_store

__all__ = [
    "ExternalCluster",
    "Fault",
    "FaultWrite",
    "Faults",
    "IntegerConvNet",
    "MemoryUse",
    "blob_images",
    "dask_cli",
    "executing_tasks",
    "external_cluster",
    "inject_faults",
    "peak_rss_mib_of",
    "run_volseg",
    "truncate_file",
    "volseg_command",
    "wait_until",
    "write_blob_dataset",
    "write_labels_store",
    "write_slices",
    "write_tiny_checkpoint",
]
