"""Local worker processes: one thread per numeric library, glibc's dynamic mmap threshold kept."""

from __future__ import annotations

import os

from volseg.runtime import connect


def _environ() -> dict[str, str | None]:
    return {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")}


def test_local_workers_keep_dynamic_mmap_threshold_and_one_omp_thread() -> None:
    with connect(n_workers=1, threads_per_worker=1) as client:
        (env,) = client.run(_environ).values()
    # dask's default sets MALLOC_TRIM_THRESHOLD_, which makes every large array an mmap
    assert env == {"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1"}
