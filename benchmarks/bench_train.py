"""Benchmark: training throughput (crops/s) of the registered segmentation models.

One training step = forward + cross-entropy + backward + Adam step on a batch of
single-channel square crops with two classes. After warm-up steps, each timed step is
measured on its own (CUDA synchronised); the median step gives crops/s. On CPU the run
uses ``torch.set_num_threads(os.cpu_count())``; when CUDA is available the same cases
also run on the GPU with bf16 autocast and channels_last.

Writes ``results/train_cpu.json`` + ``.md`` (and ``train_cuda.json`` + ``.md``)::

    python benchmarks/bench_train.py            # 224 x 224 crops
    python benchmarks/bench_train.py --smoke    # tiny, for CI (results to a temp dir)
    python benchmarks/bench_train.py --device cuda --batch 32 --out RESULTS   # the GPU alone
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from _common import RESULTS, machine, now, write_results

from volseg.models import build_model

# (registry name, batch size): full SegNet at batch 4 keeps CPU steps to seconds.
CASES = (("segnet-lite", 8), ("segnet", 4))


def _batch(batch: int, crop: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 1, crop, crop, generator=g)
    y = (x > 0.9).long()[:, 0]  # ~10 % foreground, like somas
    return x.to(device), y.to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_case(
    name: str, batch: int, crop: int, warmup: int, iters: int, device: torch.device
) -> dict[str, Any]:
    """Time ``iters`` training steps of model ``name`` after ``warmup`` steps."""
    torch.manual_seed(0)
    cuda = device.type == "cuda"
    model = build_model(name, in_channels=1, num_classes=2).to(device)
    x, y = _batch(batch, crop, device)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
        torch.cuda.reset_peak_memory_stats(device)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext()

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        with autocast:
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return float(loss.detach())

    losses = [step() for _ in range(warmup)]
    times = []
    for _ in range(iters):
        _sync(device)
        t0 = time.perf_counter()
        losses.append(step())
        _sync(device)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    case: dict[str, Any] = {
        "model": name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "batch_size": batch,
        "crop": crop,
        "warmup_steps": warmup,
        "timed_steps": iters,
        "step_seconds": [round(t, 4) for t in times],
        "median_step_s": round(med, 4),
        "crops_per_s": round(batch / med, 2),
        "crops_per_s_mean": round(batch * iters / sum(times), 2),
        "losses_finite": all(math.isfinite(v) for v in losses),
        "first_loss": round(losses[0], 4),
        "last_loss": round(losses[-1], 4),
    }
    if cuda:
        case["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return case


def table(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"# Training throughput ({result['device']}, {result['precision']})",
        "",
        f"{m.get('gpu') or m['cpu']}; torch {m['torch']}, {m['threads']} threads; "
        f"{result['date']}. One step = forward + cross-entropy + backward + Adam; "
        f"median of {result['cases'][0]['timed_steps']} timed steps after warm-up.",
        "",
        "| model | parameters | batch | crop | median step (s) | crops/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for c in result["cases"]:
        lines.append(
            f"| {c['model']} | {c['parameters']:,} | {c['batch_size']} | {c['crop']} | "
            f"{c['median_step_s']} | {c['crops_per_s']} |"
        )
    return "\n".join(lines) + "\n"


def run(
    device: torch.device,
    crop: int,
    warmup: int,
    iters: int,
    out: Path,
    cases: tuple[tuple[str, int], ...] = CASES,
) -> dict[str, Any]:
    cuda = device.type == "cuda"
    extra: dict[str, Any] = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if cuda:
        extra["gpu"] = torch.cuda.get_device_name(device)
    result = {
        "benchmark": "train",
        "date": now(),
        "device": device.type,
        "precision": "bf16 autocast, channels_last" if cuda else "float32",
        "machine": machine(**extra),
        "cases": [run_case(n, b, crop, warmup, iters, device) for n, b in cases],
    }
    write_results(out, f"train_{device.type}", result, table(result))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, results to a temp dir")
    parser.add_argument("--crop", type=int, default=224, help="crop size (px)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per case")
    parser.add_argument("--iters", type=int, default=7, help="timed steps per case")
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    parser.add_argument(
        "--device", choices=("all", "cpu", "cuda"), default="all", help="all: CPU, then CUDA"
    )
    parser.add_argument("--batch", type=int, default=None, help="crops per step, every model")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    if args.smoke:
        out = args.out or Path(tempfile.mkdtemp(prefix="volseg-smoke-"))
        crop, warmup, iters = 64, 1, 2
        cases = tuple((name, 2) for name, _ in CASES)
    else:
        out = args.out or RESULTS
        crop, warmup, iters, cases = args.crop, args.warmup, args.iters, CASES
    if args.batch is not None:
        cases = tuple((name, args.batch) for name, _ in cases)
    devices = [torch.device("cpu")] if args.device in ("all", "cpu") else []
    if args.device == "cuda" or (args.device == "all" and torch.cuda.is_available()):
        devices.append(torch.device("cuda"))
    for device in devices:
        print(table(run(device, crop, warmup, iters, out, cases)))


if __name__ == "__main__":
    main()
