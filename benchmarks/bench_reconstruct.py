"""Benchmark (issue 6, requirement 6): 3D object reconstruction at scale.

    python benchmarks/bench_reconstruct.py [--depth 64 --height 1024 --width 1024]
    python benchmarks/bench_reconstruct.py --smoke     # tiny phantom, seconds

In one run, on one phantom (its ``labels/ground_truth``: background, soma, vessel) and one
dask ``distributed`` cluster (2 worker processes of 1 thread) shared by every run:

1. throughput of ``reconstruct_components`` (labels, object table, objects store) for the
   somas (many small objects) and for the vessels (few objects crossing many blocks):
   wall seconds, voxels/s, objects/s;
2. dask-image ``ndmeasure.label`` (26-connectivity, input chunks = volseg's blocks) on the
   same mask, stored to zarr on the same cluster: the same objects up to renumbering (a
   bijection between the two labelings over the foreground, same background) and the
   speed ratio (dask-image seconds / volseg seconds);
3. ``scipy.ndimage.label`` of the whole volume in memory: exact equality of the ids
   (volseg numbers objects as scipy does) and its time (in-memory, no I/O);
4. peak RSS (VmHWM) of the worker(s) for the volume and for one twice as deep with the
   same block shape, each on a fresh cluster (by default of one worker, which then runs
   every block): memory is meant to be bounded by the block size, not the volume.

Writes ``results/reconstruct.json`` and ``.md`` (or into ``--out``).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import distributed
import numpy as np
import scipy
import zarr
from _common import RESULTS, machine, now, write_results
from dask_image import ndmeasure
from scipy import ndimage

from volseg.io import VolumeStore
from volseg.phantom import CLASS_NAMES, PhantomConfig, generate_phantom
from volseg.reconstruct import reconstruct_components
from volseg.runtime import connect, plan_blocks

LABELS = "ground_truth"
STRUCTURE = np.ones((3, 3, 3), bool)  # 26-connectivity


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _phantom(path: Path, shape: Sequence[int], chunks: Sequence[int] | None) -> dict[str, Any]:
    t0 = time.perf_counter()
    generate_phantom(
        path,
        PhantomConfig(shape=tuple(shape), seed=6),
        chunks=chunks,
        overwrite=True,
        progress=False,
    )
    return {"shape": list(shape), "seconds": round(time.perf_counter() - t0, 2)}


def _volseg(
    store: Path, out: Path, cls: str, block: Sequence[int], client: distributed.Client
) -> tuple[dict[str, Any], zarr.Array]:
    t0 = time.perf_counter()
    r = reconstruct_components(
        store,
        out,
        labels=LABELS,
        classes=[cls],
        connectivity=26,
        block_shape=block,
        client=client,
        progress=False,
        overwrite=True,
    )
    wall = time.perf_counter() - t0
    ids = zarr.open_array(r.store / "labels" / r.labels_name / "0", mode="r")
    return {"seconds": wall, "n_objects": r.n_objects, "dtype": r.dtype}, ids


def _dask_image(
    labels: zarr.Array, class_id: int, block: Sequence[int], out: Path, client: distributed.Client
) -> tuple[dict[str, Any], zarr.Array]:
    t0 = time.perf_counter()
    mask = da.from_zarr(labels, chunks=tuple(block)) == class_id
    relabeled, n = ndmeasure.label(mask, structure=STRUCTURE)
    target = zarr.create_array(
        out, shape=relabeled.shape, chunks=tuple(block), dtype=relabeled.dtype, overwrite=True
    )
    stored = da.store(relabeled, target, lock=False, compute=False)
    _, n_objects = client.compute([stored, n], sync=True)
    wall = time.perf_counter() - t0
    return {"seconds": wall, "n_objects": int(n_objects), "dtype": str(relabeled.dtype)}, target


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """True when ``a`` and ``b`` are the same labeling up to renumbering of the objects.

    The background (0) agrees, and the pairs (id in ``a``, id in ``b``) over the foreground
    are a bijection: as many distinct pairs as distinct ids on either side.
    """
    fg = a != 0
    if not np.array_equal(fg, b != 0):
        return False
    x = a[fg].astype(np.int64)
    y = b[fg].astype(np.int64)
    if x.size == 0:
        return True
    pairs = np.unique(x * (int(y.max()) + 1) + y)
    return len(pairs) == len(np.unique(x)) == len(np.unique(y))


def _rate(n: float, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else float("nan")


def compare(
    store: Path, cls: str, block: Sequence[int], work: Path, client: distributed.Client
) -> dict[str, Any]:
    """volseg vs dask-image vs scipy on the objects of one class."""
    volume = VolumeStore.open(store)
    labels = volume.labels(LABELS)
    class_id = CLASS_NAMES.index(cls)
    voxels = math.prod(labels.shape)
    vs, vs_ids = _volseg(store, work / f"objects_{cls}", cls, block, client)
    di, di_ids = _dask_image(labels, class_id, block, work / f"dask_image_{cls}.zarr", client)

    t0 = time.perf_counter()
    mask = np.asarray(labels[:]) == class_id
    read_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    sp_ids, sp_n = ndimage.label(mask, structure=STRUCTURE)
    sp_s = time.perf_counter() - t0
    del mask

    a = np.asarray(vs_ids[:])
    scipy_equal = bool(vs["n_objects"] == sp_n and np.array_equal(a, sp_ids))
    del sp_ids
    b = np.asarray(di_ids[:])
    same = same_partition(a, b)
    n_unique_dask = int(np.unique(b[b != 0]).size)
    foreground = int(np.count_nonzero(a))
    del a, b

    def row(r: dict[str, Any]) -> dict[str, Any]:
        return {
            **r,
            "seconds": round(r["seconds"], 3),
            "voxels_per_s": _rate(voxels, r["seconds"]),
            "objects_per_s": _rate(r["n_objects"], r["seconds"]),
        }

    return {
        "class": cls,
        "shape": list(labels.shape),
        "block_shape": list(block),
        "n_blocks": math.prod(-(-s // b) for s, b in zip(labels.shape, block, strict=True)),
        "foreground_voxels": foreground,
        "volseg": row(vs),
        "dask_image": {**row(di), "distinct_ids": n_unique_dask},
        "scipy": {
            "seconds": round(sp_s, 3),
            "read_seconds": round(read_s, 3),
            "n_objects": int(sp_n),
            "voxels_per_s": _rate(voxels, sp_s),
            "objects_per_s": _rate(sp_n, sp_s),
        },
        "same_objects": bool(same and vs["n_objects"] == di["n_objects"] == n_unique_dask),
        "scipy_equal": scipy_equal,
        "dask_image_over_volseg": round(di["seconds"] / vs["seconds"], 3),
    }


def memory(store: Path, cls: str, block: Sequence[int], work: Path, workers: int) -> dict[str, Any]:
    """Peak RSS of the workers of a fresh cluster over one ``reconstruct_components`` run."""
    with connect(n_workers=workers, threads_per_worker=1) as client:
        client.run(lambda: None)
        before = client.run(_peak_rss_mib)
        vs, _ = _volseg(store, work / "objects_memory", cls, block, client)
        rss = client.run(_peak_rss_mib)
    shape = VolumeStore.open(store).labels(LABELS).shape
    return {
        "depth": shape[0],
        "shape": list(shape),
        "worker_peak_rss_mib": round(max(rss.values()), 1),
        "worker_peak_rss_mib_all": sorted(round(v, 1) for v in rss.values()),
        "worker_rss_at_start_mib": round(max(before.values()), 1),
        "n_objects": vs["n_objects"],
        "seconds": round(vs["seconds"], 3),
    }


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    load = [round(x, 2) for x in os.getloadavg()]  # the machine may be shared
    shape = (args.depth, args.height, args.width)
    chunks = tuple(args.chunks) if args.chunks else None
    store = work / "phantom.zarr"
    phantoms = [_phantom(store, shape, chunks)]
    labels = VolumeStore.open(store).labels(LABELS)
    block = plan_blocks(labels.shape, labels.chunks, args.block).block_shape
    cases = []
    with connect(n_workers=args.workers, threads_per_worker=1) as client:
        if not args.smoke:  # warm-up: imports in the workers, numba caches
            warm = work / "warm.zarr"
            _phantom(warm, (2, 64, 64), None)
            for cls in args.classes:
                compare(warm, cls, (2, 64, 64), work / "warm", client)
        for cls in args.classes:
            cases.append(compare(store, cls, block, work, client))
    deep = work / "deep.zarr"
    phantoms.append(_phantom(deep, (2 * shape[0], *shape[1:]), labels.chunks))
    mem = [memory(s, "soma", block, work, args.memory_workers) for s in (store, deep)]
    change = mem[1]["worker_peak_rss_mib"] / mem[0]["worker_peak_rss_mib"] - 1
    return {
        "benchmark": "reconstruct",
        "machine": machine(
            workers=args.workers,
            threads_per_worker=1,
            memory_workers=args.memory_workers,
            load_average_at_start=load,
            dask=dask.__version__,
            distributed=distributed.__version__,
            dask_image=version("dask-image"),
            scipy=scipy.__version__,
            zarr=zarr.__version__,
        ),
        "created": now(),
        "volume_shape": list(shape),
        "chunks": list(labels.chunks),
        "block_shape": list(block),
        "connectivity": 26,
        "phantoms": phantoms,
        "cases": cases,
        "memory": mem,
        "memory_change_doubling_depth": round(change, 4),
        "notes": (
            "volseg seconds include the object table (moments, parquet, csv) and the objects "
            "store; dask-image seconds include storing its int32 labels to zarr; scipy is "
            "in memory on the whole volume (read time separate)."
        ),
    }


def table(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"3D connected components (26-connectivity) of a "
        f"{' x '.join(map(str, result['volume_shape']))} phantom "
        f"(chunks {tuple(result['chunks'])}, blocks {tuple(result['block_shape'])}) on "
        f"{m['workers']} dask workers x 1 thread, {m['cpus']} CPUs ({m['cpu']}); "
        f"{result['created']}.",
        "",
        "| class | method | seconds | voxels/s | objects/s | objects | same objects | "
        "= scipy ids | dask-image / volseg |",
        "|---|---|---:|---:|---:|---:|---|---|---:|",
    ]
    for c in result["cases"]:
        same = "yes" if c["same_objects"] else "NO"
        eq = "yes" if c["scipy_equal"] else "NO"
        v, d = c["volseg"], c["dask_image"]
        lines += [
            f"| {c['class']} | volseg | {v['seconds']:.2f} | {v['voxels_per_s']:,.0f} | "
            f"{v['objects_per_s']:,.1f} | {v['n_objects']} |  | {eq} | 1.00x |",
            f"| {c['class']} | dask-image ndmeasure.label | {d['seconds']:.2f} | "
            f"{d['voxels_per_s']:,.0f} | {d['objects_per_s']:,.1f} | {d['n_objects']} | "
            f"{same} |  | {c['dask_image_over_volseg']:.2f}x |",
        ]
        s = c["scipy"]
        lines.append(
            f"| {c['class']} | scipy.ndimage.label (in memory) | {s['seconds']:.2f} | "
            f"{s['voxels_per_s']:,.0f} | {s['objects_per_s']:,.1f} | {s['n_objects']} |  |  |  |"
        )
    mem = ", ".join(
        f"depth {r['depth']}: {r['worker_peak_rss_mib']} MiB ({r['seconds']:.1f} s)"
        for r in result["memory"]
    )
    gen = ", ".join(
        f"{' x '.join(map(str, p['shape']))} in {p['seconds']:.1f} s" for p in result["phantoms"]
    )
    lines += [
        "",
        f"Worker peak RSS (VmHWM, fresh cluster of {m['memory_workers']} worker(s) each, "
        f"somas): {mem} "
        f"({100 * result['memory_change_doubling_depth']:+.1f} % for twice the depth).",
        "",
        f"Phantom generation: {gen}.",
        "",
        result["notes"],
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=64)
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--chunks", type=int, nargs=3, default=None, help="default: volseg's")
    parser.add_argument("--block", type=int, nargs=3, default=None, help="default: volseg's")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--memory-workers", type=int, default=1, help="workers of the memory runs' clusters"
    )
    parser.add_argument("--classes", nargs="+", default=["soma", "vessel"])
    parser.add_argument("--smoke", action="store_true", help="tiny phantom, results to a temp dir")
    parser.add_argument("--work", type=Path, default=None, help="folder for temporary stores")
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    args = parser.parse_args()
    if args.smoke:
        args.depth, args.height, args.width = 8, 96, 96
        args.chunks = args.block = [4, 96, 48]
    with tempfile.TemporaryDirectory(prefix="volseg-bench-", dir=args.work) as tmp:
        result = run(args, Path(tmp))
    out = args.out or (Path(tempfile.mkdtemp(prefix="volseg-smoke-")) if args.smoke else RESULTS)
    write_results(out, "reconstruct", result, table(result))
    print(table(result))


if __name__ == "__main__":
    main()
