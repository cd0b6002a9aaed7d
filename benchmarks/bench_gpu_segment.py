"""GPU benchmark (issue 16), end to end: ``volseg segment`` (zarr read → GPU → zarr write)
on full-size phantoms, GPU utilisation sampled during the run, the time extrapolated to
the 1800-slice volume, training throughput of the real training loop, and GPU labels
against CPU labels.

    python benchmarks/bench_gpu_segment.py --out RESULTS               # on the GPU machine
    python benchmarks/bench_gpu_segment.py --smoke                     # CPU, small, a minute

1. Each model (segnet-lite, full SegNet) is trained briefly on the GPU with ``volseg
   train`` on an annotated phantom (``--train-steps`` steps of ``--train-batch`` crops; the
   crops/s of the whole loop, data included, are reported), so that the labels compared
   below come from a model with real decisions, not from untrained near-ties.
2. ``python -m volseg.cli segment`` (its own cluster, defaults: derived tiling and batch,
   bf16, ``torch.compile`` on CUDA) runs on a ``--short``-slice and a ``--depth``-slice
   phantom of 2300 x 1920 (the first run also fills the compile cache); a thread samples
   GPU utilisation (NVML) every 0.1 s. The 1800-slice volume is extrapolated as
   ``wall_long + (1800 - depth) × predictor time per slice of the long run``, which
   assumes reads and writes keep overlapping the compute (see the second-half utilisation).
3. The GPU labels of ``--compare`` slices of the long run are compared with the same
   model's labels on the CPU (float32, the same plan otherwise), and the GPU labels at
   ``bf16``, ``fp16`` and ``fp32`` (eager, in this process) with the CPU's too.

Writes ``gpu_segment.json`` and ``gpu_segment.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import zarr
from _common import machine, now, write_results

from volseg.geometry import Box
from volseg.infer import BlockPredictor, InferencePlan
from volseg.models import load_checkpoint
from volseg.phantom import PhantomConfig, generate_phantom
from volseg.train import make_config, train


class UtilSampler:
    """GPU utilisation (% of time a kernel ran, NVML) every ``period`` s in a thread."""

    def __init__(self, period: float = 0.1) -> None:
        self.period, self.samples = period, []
        self._stop = threading.Event()
        try:
            import pynvml

            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            self._read = lambda: pynvml.nvmlDeviceGetUtilizationRates(self._handle).gpu
        except Exception:  # no NVML (CPU dry run): no samples
            self._read = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            if self._read is not None:
                self.samples.append(float(self._read()))

    def __enter__(self) -> UtilSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, Any]:
        s = self.samples
        if not s:
            return {"samples": 0}
        busy = [i for i, v in enumerate(s) if v > 0]
        steady = s[busy[0] : busy[-1] + 1] if busy else [0.0]
        return {
            "samples": len(s),
            "mean_whole_run_pct": round(statistics.fmean(s), 1),
            "mean_from_first_to_last_kernel_pct": round(statistics.fmean(steady), 1),
            "mean_second_half_of_kernels_pct": round(
                statistics.fmean(steady[len(steady) // 2 :]), 1
            ),
            "idle_before_first_kernel_s": round(busy[0] * self.period, 1) if busy else None,
        }


def _phantom(path: Path, depth: int, size: tuple[int, int], seed: int) -> Path:
    generate_phantom(path, PhantomConfig(shape=(depth, *size), seed=seed), progress=False)
    return path


def _train(name: str, volume: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    config = make_config(
        {
            "train": {"source": str(volume), "slices": list(range(0, args.train_depth, 2))},
            "out": str(out),
            "model": name,
            "crop_size": args.crop,
            "crops": args.train_steps * args.train_batch,
            "epochs": 1,
            "batch_size": args.train_batch,
            "class_of_interest": 1,
            "device": args.device,
        }
    )
    t = time.perf_counter()
    result = train(config, progress=False)
    seconds = time.perf_counter() - t
    return {
        "checkpoint": str(result.last_checkpoint),
        "steps": args.train_steps,
        "batch": args.train_batch,
        "crop": args.crop,
        "seconds_whole_call": round(seconds, 2),
        "crops_per_s_whole_call": round(args.train_steps * args.train_batch / seconds, 1),
    }


def _segment(volume: Path, ckpt: str, out: Path, device: str) -> dict[str, Any]:
    """``volseg segment`` as a user runs it, timed, with GPU utilisation sampled."""
    command = [sys.executable, "-m", "volseg.cli", "segment", str(volume), "--model", ckpt]
    command += ["--out", str(out), "--device", device, "--overwrite", "--no-progress", "--json"]
    with UtilSampler() as util:
        t = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"volseg segment failed ({proc.returncode}): {proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout)
    return {"wall_s": round(wall, 2), "gpu_utilisation": util.summary(), "summary": summary}


def _labels(store: Path, z: slice) -> np.ndarray:
    return np.asarray(zarr.open_array(store / "labels/segmentation/0", mode="r")[z])


def _compare(ckpt: str, volume: Path, gpu_labels: np.ndarray, args: argparse.Namespace) -> dict:
    """Labels of the first slices on the CPU (float32) against the GPU's at each precision."""
    checkpoint = load_checkpoint(ckpt)
    data = np.asarray(zarr.open_array(volume / "0", mode="r")[: args.compare])
    shape = tuple(zarr.open_array(volume / "0", mode="r").shape)
    box = Box((0, 0, 0), (args.compare, *shape[1:]))

    def labels(device: str, precision: str) -> np.ndarray:
        plan = InferencePlan.resolve(  # eager: the compiled run is the segment run's
            checkpoint,
            volume_shape=shape,
            device=device,
            precision=precision,
            skip="empty",
            compiled=False,
        )
        predictor = BlockPredictor(checkpoint.model, plan)
        region = predictor.read_region(box)
        sub = np.asarray(zarr.open_array(volume / "0", mode="r")[region.slices])
        return predictor.predict(box, sub, region).labels

    t = time.perf_counter()
    cpu = labels("cpu", "fp32")
    result: dict[str, Any] = {"slices": args.compare, "cpu_s": round(time.perf_counter() - t, 1)}
    result["gpu_bf16_segment_run"] = float((gpu_labels == cpu).mean())
    if args.device == "cuda":
        for precision in ("bf16", "fp16", "fp32"):
            result[f"gpu_{precision}"] = float((labels("cuda", precision) == cpu).mean())
    result["foreground_fraction_cpu"] = float((cpu > 0).mean())
    del data
    return result


def run(
    args: argparse.Namespace, work: Path, result: dict[str, Any], save: Callable[[], None]
) -> None:
    """Fill ``result``, saving it after each model (a time limit keeps what was measured)."""
    size = (args.height, args.width)
    t = time.perf_counter()
    train_volume = _phantom(work / "train.zarr", args.train_depth, size, seed=4)
    short = _phantom(work / "short.zarr", args.short, size, seed=3)
    long = _phantom(work / "long.zarr", args.depth, size, seed=3)
    result["phantoms_s"] = round(time.perf_counter() - t, 1)
    for name in args.models.split(","):
        entry: dict[str, Any] = {}
        result["models"][name] = entry
        try:
            entry["training"] = _train(name, train_volume, work / f"train_{name}", args)
            ckpt = entry["training"]["checkpoint"]
            runs = {}
            for label, volume in (("short", short), ("long", long)):
                runs[label] = _segment(volume, ckpt, work / f"{name}_{label}.zarr", args.device)
            entry["segment"] = runs
            long_run = runs["long"]
            per_slice = long_run["summary"]["blocks"]["stats_sum"]["seconds"] / args.depth
            entry["predictor_ms_per_slice_long"] = round(1000 * per_slice, 1)
            entry["whole_call_ms_per_slice_long"] = round(1000 * long_run["wall_s"] / args.depth, 1)
            volume_s = long_run["wall_s"] + (1800 - args.depth) * per_slice
            entry["volume_1800_slices_min"] = round(volume_s / 60, 2)
            gpu = _labels(work / f"{name}_long.zarr", slice(0, args.compare))
            entry["agreement_with_cpu"] = _compare(ckpt, long, gpu, args)
        except Exception as exc:  # one model failing still reports the other
            entry["error"] = f"{type(exc).__name__}: {exc}"
        save()


def table(result: dict[str, Any]) -> str:
    lines = [
        f"End to end on {result['device']}: `volseg segment` on {result['short']} and "
        f"{result['depth']} phantom slices of {result['size']} "
        f"(torch {result['machine']['torch']}; {result['date']}).",
        "",
        "| model | train crops/s | whole call ms/slice | predictor ms/slice | 1800 slices (min) "
        "| GPU busy (run) | GPU busy (2nd half) | = CPU bf16 | fp16 | fp32 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, e in result["models"].items():
        if "error" in e:
            lines.append(f"| {name} | error: {e['error'][:120]} |||||||||")
            continue
        util = e["segment"]["long"]["gpu_utilisation"]
        a = e["agreement_with_cpu"]
        lines.append(
            f"| {name} | {e['training']['crops_per_s_whole_call']} | "
            f"{e['whole_call_ms_per_slice_long']} | {e['predictor_ms_per_slice_long']} | "
            f"{e['volume_1800_slices_min']} | {util.get('mean_whole_run_pct', '-')} % | "
            f"{util.get('mean_second_half_of_kernels_pct', '-')} % | "
            f"{100 * a['gpu_bf16_segment_run']:.4f} % | "
            f"{100 * a.get('gpu_fp16', float('nan')):.4f} % | "
            f"{100 * a.get('gpu_fp32', float('nan')):.4f} % |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--depth", type=int, default=256)
    parser.add_argument("--short", type=int, default=64)
    parser.add_argument("--height", type=int, default=2300)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--models", default="segnet,segnet-lite")
    parser.add_argument("--train-depth", type=int, default=8)
    parser.add_argument("--train-steps", type=int, default=150)
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--compare", type=int, default=2, help="slices compared with the CPU")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.smoke:
        args.device, args.models, args.depth, args.short = "cpu", "segnet-lite", 6, 2
        args.height, args.width, args.train_depth, args.train_steps = 320, 288, 4, 3
        args.train_batch, args.crop, args.compare = 4, 64, 1
    torch.set_num_threads(os.cpu_count() or 1)
    result: dict[str, Any] = {
        "benchmark": "gpu_segment",
        "date": now(),
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
        "machine": machine(torch=torch.__version__),
        "short": args.short,
        "depth": args.depth,
        "size": f"{args.height} x {args.width}",
        "models": {},
    }
    out = args.out or Path(tempfile.mkdtemp(prefix="volseg-gpu-"))
    with tempfile.TemporaryDirectory(prefix="volseg-gpu-") as tmp:
        run(
            args,
            Path(tmp),
            result,
            lambda: write_results(out, "gpu_segment", result, table(result)),
        )
    print(table(result))


if __name__ == "__main__":
    main()
