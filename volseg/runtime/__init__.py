"""Execution of volseg jobs with dask: local threads today, dask.distributed for segment."""

from volseg.runtime._local import default_workers, run_tasks

__all__ = ["default_workers", "run_tasks"]
