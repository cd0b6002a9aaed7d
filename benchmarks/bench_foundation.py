"""Benchmark: phantom generation and ingest throughput at full slice size (2300 x 1920).

Writes ``results/foundation.json`` and ``results/foundation.md``::

    python benchmarks/bench_foundation.py             # 16 full-size slices per case
    python benchmarks/bench_foundation.py --smoke     # tiny, for CI (results to a temp dir)
    python benchmarks/bench_foundation.py --full-volume /scratch   # the whole 1800-slice phantom
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import RESULTS, machine, now, write_results

from volseg.io import ingest, open_labels, open_volume
from volseg.phantom import PhantomConfig, generate_phantom
from volseg.runtime import default_workers
from volseg.testing import write_slices

FULL_DEPTH = 1800


def _phantom_case(
    work: Path, shape: tuple[int, int, int], mode: str, workers: int
) -> dict[str, Any]:
    config = PhantomConfig(shape=shape, mode=mode)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    store = generate_phantom(
        work / f"phantom_{mode}.zarr", config, num_workers=workers, progress=False, overwrite=True
    )
    seconds = time.perf_counter() - t0
    rec = store.meta["phantom"]
    nbytes = np.prod(shape) * np.dtype(config.dtype).itemsize
    return {
        "case": f"phantom --mode {mode}",
        "shape": list(shape),
        "workers": workers,
        "seconds": round(seconds, 3),
        "scene_seconds": rec["scene_seconds"],
        "slices_per_s": round(shape[0] / seconds, 4),
        "MB_per_s": round(nbytes / 1e6 / seconds, 2),
        "full_volume_hours": round(FULL_DEPTH / (shape[0] / seconds) / 3600, 3)
        if shape[1:] == (2300, 1920)
        else None,
    }


def _ingest_case(
    work: Path, volume: np.ndarray, labels: np.ndarray, fmt: str, workers: int
) -> dict[str, Any]:
    src, lab = work / f"slices_{fmt}", work / f"labels_{fmt}"
    write_slices(src, volume, fmt=fmt)  # type: ignore[arg-type]
    write_slices(lab, labels, fmt=fmt)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    store = ingest(
        src,
        work / f"ingest_{fmt}.zarr",
        labels=lab,
        num_workers=workers,
        progress=False,
        overwrite=True,
    )
    seconds = time.perf_counter() - t0
    assert np.array_equal(open_volume(store.path)[-1].values, volume[-1])
    nbytes = volume.nbytes + labels.nbytes
    return {
        "case": f"ingest {fmt.upper()} slices + labels",
        "shape": list(volume.shape),
        "workers": workers,
        "seconds": round(seconds, 3),
        "slices_per_s": round(volume.shape[0] / seconds, 4),
        "MB_per_s": round(nbytes / 1e6 / seconds, 2),
        "full_volume_hours": round(FULL_DEPTH / (volume.shape[0] / seconds) / 3600, 3)
        if volume.shape[1:] == (2300, 1920)
        else None,
    }


def run(
    depth: int, slice_shape: tuple[int, int], ct_shape: tuple[int, int, int], out: Path
) -> dict[str, Any]:
    workers = default_workers()
    work = Path(tempfile.mkdtemp(prefix="volseg-bench-"))
    try:
        cases = [_phantom_case(work, (depth, *slice_shape), "fast", workers)]
        vol = open_volume(work / "phantom_fast.zarr").values
        lab = open_labels(work / "phantom_fast.zarr").values
        for fmt in ("png", "tif"):
            cases.append(_ingest_case(work, vol, lab, fmt, workers))
        cases.append(_phantom_case(work, ct_shape, "ct", workers))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "benchmark": "foundation",
        "machine": machine(workers=workers),
        "created": now(),
        "cases": cases,
    }
    write_results(out, "foundation", result, table(result))
    return result


def table(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"Measured {result['created']} on {m['cpus']} CPUs ({m['cpu']}), {m['workers']} threads.",
        "",
        "| case | shape (z, y, x) | seconds | slices/s | MB/s | 1800-slice volume (h) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for c in result["cases"]:
        hours = "" if c["full_volume_hours"] is None else f"{c['full_volume_hours']:.2f}"
        lines.append(
            f"| {c['case']} | {' x '.join(map(str, c['shape']))} | {c['seconds']:.1f} | "
            f"{c['slices_per_s']:.3f} | {c['MB_per_s']:.1f} | {hours} |"
        )
    return "\n".join(lines) + "\n"


def full_volume(work: Path, out: Path) -> dict[str, Any]:
    """Generate the whole ``--preset full`` phantom once; record time and peak memory."""
    import resource

    workers = default_workers()
    config = PhantomConfig.preset("full")
    t0 = time.perf_counter()
    store = generate_phantom(work / "full.zarr", config, num_workers=workers, overwrite=True)
    seconds = time.perf_counter() - t0
    rec = store.meta["phantom"]
    result = {
        "benchmark": "phantom-full-volume",
        "machine": machine(workers=workers),
        "created": now(),
        "shape": list(config.shape),
        "seconds": round(seconds, 1),
        "scene_seconds": rec["scene_seconds"],
        "slices_per_s": round(config.shape[0] / seconds, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "stored_gib": round(
            sum(p.stat().st_size for p in (work / "full.zarr").rglob("*") if p.is_file()) / 2**30, 2
        ),
        "objects": {k: rec[k] for k in ("somas", "vessels", "vessel_segments")},
        "class_fractions": store.label_group("ground_truth").attrs["volseg"]["class_fractions"],
    }
    write_results(out, "phantom_full", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, results to a temp dir")
    parser.add_argument("--depth", type=int, default=16, help="full-size slices per case")
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    parser.add_argument(
        "--full-volume",
        type=Path,
        default=None,
        metavar="SCRATCH",
        help="generate the whole full-size phantom in SCRATCH (about 8 GB)",
    )
    args = parser.parse_args()
    if args.full_volume:
        print(json.dumps(full_volume(args.full_volume, args.out or RESULTS), indent=2))
        return
    if args.smoke:
        out = args.out or Path(tempfile.mkdtemp(prefix="volseg-smoke-"))
        result = run(4, (128, 160), (2, 96, 96), out)
    else:
        result = run(args.depth, (2300, 1920), (2, 512, 512), args.out or RESULTS)
    print(table(result))


if __name__ == "__main__":
    main()
