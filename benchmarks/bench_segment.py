"""Benchmark (issue 5, requirement 8): streaming segmentation of full-size 2300 x 1920 slices.

    python benchmarks/bench_segment.py [--model CKPT] [--depth 4]
    python benchmarks/bench_segment.py --smoke       # tiny phantom and model, seconds

In one run, on one phantom:

1. throughput of ``volseg segment`` (dask LocalCluster, one worker process per core, started
   before the clock like MONAI's model; and the whole call with its own cluster) against
   (i) a naive loop over slices and tiles and (ii) MONAI's ``sliding_window_inference``,
   with the same model, tile, overlap and gaussian blending (σ = tile / 8), and the label
   agreement inside the field of view; MONAI is also run on the model as volseg runs it
   (BatchNorm folded, channels-last), at ``--batch`` and at one tile per pass, its best
   counting: equal terms. volseg derives its own batch (the pipeline's choice);
2. wall time per slice of the whole ``volseg segment`` call at default settings (derived
   tiling and batch, its own cluster) for segnet-lite on the volume, and for full SegNet on
   a slice per worker;
3. peak RSS of a worker (one compute and one prefetch thread) for the volume and for twice
   its depth (same blocks);
4. scaling from 1 to 2 worker processes.

Writes ``results/segment_<device>.json`` and ``.md`` (or into ``--out``).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import zarr
from _common import RESULTS, machine, now, write_results
from _reference import Reference, field_of_view

from volseg.infer import resolve_device
from volseg.models import build_model, fuse_for_inference, save_checkpoint
from volseg.phantom import PhantomConfig, generate_phantom
from volseg.runtime import connect
from volseg.segment import PREFETCH, make_segment_config, segment


def _loop(volume: Path, out: Path, fn: Callable[[np.ndarray], np.ndarray]) -> float:
    """Run ``fn`` over the slices of ``volume``, writing labels to a zarr array; seconds."""
    image = zarr.open_array(volume / "0", mode="r")
    labels = zarr.create_array(
        out, shape=image.shape, chunks=image.chunks, dtype="uint8", overwrite=True
    )
    t0 = time.perf_counter()
    for z in range(image.shape[0]):
        labels[z] = fn(np.asarray(image[z]))
    return time.perf_counter() - t0


def _segment(
    volume: Path, model: Path, out: Path, client: Any = None, **options: Any
) -> dict[str, Any]:
    t0 = time.perf_counter()
    result = segment(
        make_segment_config(
            {"volume": str(volume), "model": str(model), "out": str(out), "overwrite": True}
            | options
        ),
        progress=False,
        client=client,
    )
    wall = time.perf_counter() - t0
    if not result.ok:
        raise SystemExit(f"segment failed: {result.summary.failed}")
    return {"wall_s": wall, "blocks_s": result.summary.seconds, "config": result.config}


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _checkpoint(path: Path, name: str, classes: int, mean: float, std: float) -> Path:
    torch.manual_seed(0)
    model = build_model(name, in_channels=1, num_classes=classes).eval()
    save_checkpoint(
        path,
        model,
        architecture=name,
        arguments={"in_channels": 1, "num_classes": classes},
        metadata={"normalization": {"mean": mean, "std": std}, "note": "seeded, untrained"},
    )
    return path


def _phantom(path: Path, shape: tuple[int, ...]) -> None:
    """The benchmark phantom (seed 3). One slice per chunk, so that a short volume has a
    block per slice to share among the workers (an 1800-slice volume in 16-slice chunks
    has 113 blocks)."""
    generate_phantom(
        path,
        PhantomConfig(shape=shape, seed=3),
        chunks=(1, 512, 512),
        overwrite=True,
        progress=False,
    )


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    device = "cuda" if resolve_device(args.device).type == "cuda" else "cpu"
    threads = args.threads
    torch.set_num_threads(threads)
    shape = (args.depth, args.height, args.width)
    volume = work / "phantom.zarr"
    _phantom(volume, shape)
    image = zarr.open_array(volume / "0", mode="r")
    sample = np.asarray(image[0], np.float32)
    mean, std = float(sample.mean()), float(sample.std())
    model = args.model or _checkpoint(work / "lite.pt", "segnet-lite", 3, mean, std)
    voxels = math.prod(shape)
    tile, overlap, batch = args.tile, args.overlap, args.batch

    # 1. throughput and agreement: volseg on a running cluster (as MONAI has its model
    # loaded), then the whole call with its own cluster
    tiling = {"tile": tile, "overlap": overlap, "device": device}
    with connect(n_workers=threads, threads_per_worker=1, spare_threads=PREFETCH) as client:
        client.run(lambda: None)
        seg = _segment(volume, model, work / "volseg.zarr", client=client, **tiling)
    whole = _segment(volume, model, work / "volseg_whole.zarr", workers=threads, **tiling)
    labels = {"volseg": zarr.open_array(work / "volseg.zarr/labels/segmentation/0")[:]}
    labels["volseg_whole_call"] = zarr.open_array(work / "volseg_whole.zarr/labels/segmentation/0")[
        :
    ]
    ref = Reference.from_checkpoint(Path(model), tile, overlap, device)
    fast = fuse_for_inference(ref.model).to(memory_format=torch.channels_last)
    runs = {
        "naive": ref.naive,
        "monai": lambda im: ref.monai(im, ref.model, channels_last=False, batch=batch),
        "monai_fused_channels_last": lambda im: ref.monai(
            im, fast, channels_last=True, batch=batch
        ),
        "monai_fused_channels_last_batch1": lambda im: ref.monai(
            im, fast, channels_last=True, batch=1
        ),
    }
    seconds = {"volseg": seg["wall_s"], "volseg_whole_call": whole["wall_s"]}
    for name, fn in runs.items():
        seconds[name] = _loop(volume, work / f"{name}.zarr", fn)
        labels[name] = zarr.open_array(work / f"{name}.zarr")[:]
    fov = np.broadcast_to(field_of_view(shape), shape)
    throughput = {
        name: {
            "seconds": round(s, 3),
            "voxels_per_s": round(voxels / s),
            "volseg_speedup": round(s / seconds["volseg"], 3),
            "label_agreement_in_fov": float((labels[name] == labels["volseg"])[fov].mean()),
        }
        for name, s in seconds.items()
    }
    throughput["volseg"]["blocks_s"] = round(seg["blocks_s"], 2)
    throughput["volseg"]["batch_size"] = seg["config"]["batch_size"]
    best_monai = min(
        ("monai_fused_channels_last", "monai_fused_channels_last_batch1"), key=seconds.__getitem__
    )
    goals = {
        "vs_monai_same_model": round(seconds[best_monai] / seconds["volseg"], 3),
        "vs_monai_best_of": best_monai,
        "vs_naive": round(seconds["naive"] / seconds["volseg"], 3),
    }

    # 2. wall time per slice at default settings: the whole call, its own cluster
    per_slice: dict[str, Any] = {}
    few = work / "few.zarr"
    _phantom(few, (threads, *shape[1:]))
    for name in args.per_slice_models:
        ckpt = _checkpoint(work / f"{name}.pt", name, 3, mean, std)
        vol = volume if name == "segnet-lite" else few
        slices = shape[0] if name == "segnet-lite" else threads
        r = _segment(vol, ckpt, work / "defaults_out.zarr", device=device)
        per_slice[name] = {
            "slices": slices,
            "seconds_per_slice": round(r["wall_s"] / slices, 2),
            "wall_s": round(r["wall_s"], 2),
            "tile": r["config"]["tile"],
            "overlap": r["config"]["overlap"],
            "batch_size": r["config"]["batch_size"],
        }
    goals["segnet_lite_s_per_slice"] = per_slice.get("segnet-lite", {}).get("seconds_per_slice")

    # 3. peak RSS per worker against depth (same blocks: one slice each)
    memory = []
    for depth in (args.memory_depth, 2 * args.memory_depth):
        vol = work / f"depth{depth}.zarr"
        _phantom(vol, (depth, *shape[1:]))
        with connect(n_workers=1, threads_per_worker=1, spare_threads=PREFETCH) as client:
            client.run(lambda: None)
            address = client.scheduler_info()["address"]
            r = _segment(vol, model, work / "mem_out.zarr", scheduler=address, **tiling)
            rss = next(iter(client.run(_peak_rss_mib).values()))
        memory.append({"depth": depth, "worker_peak_rss_mib": round(rss, 1), "wall_s": r["wall_s"]})
    memory_change = memory[1]["worker_peak_rss_mib"] / memory[0]["worker_peak_rss_mib"] - 1
    goals["memory_change_doubling_depth"] = round(memory_change, 4)

    # 4. scaling over worker processes (one thread each)
    scaling = []
    for workers in sorted({1, threads}):
        r = _segment(
            volume, model, work / "scale.zarr", workers=workers, threads_per_worker=1, **tiling
        )
        scaling.append({"workers": workers, "blocks_s": round(r["blocks_s"], 2)})
    speedup = scaling[0]["blocks_s"] / scaling[-1]["blocks_s"]

    return {
        "benchmark": "segment",
        "machine": machine(torch=torch.__version__, device=device, threads=threads),
        "created": now(),
        "volume_shape": list(shape),
        "model": str(model) if args.model else "segnet-lite (seeded, untrained)",
        "tile": tile,
        "overlap": overlap,
        "batch_size": batch,
        "goals": goals,
        "throughput": throughput,
        "per_slice": per_slice,
        "memory": memory,
        "memory_change_doubling_depth": round(memory_change, 4),
        "scaling": scaling,
        "scaling_speedup": round(speedup, 3),
    }


def table(result: dict[str, Any]) -> str:
    t, g = result["throughput"], result["goals"]
    lines = [
        f"Segmentation of a {' x '.join(map(str, result['volume_shape']))} phantom on "
        f"{result['machine']['threads']} {result['machine']['device']} threads "
        f"({result['model']}; tile {result['tile']}, overlap {result['overlap']}, gaussian; "
        f"MONAI and naive batch {result['batch_size']}, volseg batch "
        f"{t['volseg']['batch_size']} (derived)); {result['created']}.",
        "",
        "| pipeline | seconds | voxels/s | volseg speed-up | labels = volseg in FOV |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in t.items():
        lines.append(
            f"| {name} | {r['seconds']} | {r['voxels_per_s']:,} | {r['volseg_speedup']:.2f}x | "
            f"{100 * r['label_agreement_in_fov']:.3f} % |"
        )
    lines += [
        "",
        f"volseg vs MONAI on the same prepared model ({g['vs_monai_best_of']}): "
        f"{g['vs_monai_same_model']:.2f}x (goal >= 1.3x); vs the naive loop: "
        f"{g['vs_naive']:.2f}x (goal >= 2x).",
        "",
        "| model | slices | s / slice (whole call, defaults) | tile | overlap | batch |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in result["per_slice"].items():
        lines.append(
            f"| {name} | {r['slices']} | {r['seconds_per_slice']} | {r['tile']} | "
            f"{r['overlap']} | {r['batch_size']} |"
        )
    mem = ", ".join(f"depth {m['depth']}: {m['worker_peak_rss_mib']} MiB" for m in result["memory"])
    lines += [
        "",
        f"Worker peak RSS: {mem} ({100 * result['memory_change_doubling_depth']:+.1f} %).",
        "Scaling: "
        + ", ".join(f"{s['workers']} worker(s) {s['blocks_s']} s" for s in result["scaling"])
        + f" ({result['scaling_speedup']:.2f}x).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="checkpoint (default: seeded)")
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--height", type=int, default=2300)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--memory-depth", type=int, default=4, help="and twice as deep")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=128)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--per-slice-models", default="segnet-lite,segnet")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.per_slice_models = args.per_slice_models.split(",")
    if args.smoke:
        args.depth, args.memory_depth, args.height, args.width = 2, 2, 160, 128
        args.tile, args.overlap, args.per_slice_models = 64, 16, ["segnet-lite"]
    with tempfile.TemporaryDirectory(prefix="volseg-bench-", dir=args.work) as tmp:
        result = run(args, Path(tmp))
    device = result["machine"]["device"]
    name = f"segment_{device}"
    out = args.out or (Path(tempfile.mkdtemp(prefix="volseg-smoke-")) if args.smoke else RESULTS)
    write_results(out, name, result, table(result))
    print(table(result))


if __name__ == "__main__":
    main()
