"""GPU benchmark (issue 16), per 2300 x 1920 slice: the shipped BlockPredictor for
segnet-lite and the full SegNet at the derived tiling, in variants, against the network
alone, MONAI's ``sliding_window_inference`` and the naive loop with the same prepared model.

    python benchmarks/bench_gpu.py --device cuda --out RESULTS     # on the GPU machine
    python benchmarks/bench_gpu.py --smoke                         # CPU, small, seconds

Variants of the predictor (same plan, same data, one process, no dask, no zarr):
``eager`` (bf16 autocast, channels-last, BatchNorm folded), ``compile`` (the same through
``torch.compile``: the plan's ``compiled``, volseg's default on CUDA), ``cudnn_benchmark``
(cuDNN times its algorithms for the fixed shapes), ``cuda_graph`` (the forward pass captured
once and replayed), ``compile_cuda_graph`` (``mode="reduce-overhead"``), and the precisions
``fp16`` and ``fp32`` (eager). Each time is the
median of ``--repeats`` runs over ``--depth`` slices after a warm-up; "network alone" runs
the same forward passes on a batch already on the device. Data: phantom slices (not
zeros). Untrained seeded weights (speed does not depend on training). Cases that would
start after ``--deadline`` seconds are skipped and listed. Writes ``gpu_slice.json`` and
``gpu_slice.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import zarr
from _common import machine, now, write_results
from _reference import Reference, field_of_view

from volseg.geometry import Box
from volseg.infer import BlockPredictor, InferencePlan
from volseg.models import autocast, build_model, predict_logits
from volseg.phantom import PhantomConfig, generate_phantom

VARIANTS = ("eager", "compile", "cudnn_benchmark", "cuda_graph", "compile_cuda_graph")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class GraphedForward(torch.nn.Module):
    """The model's forward pass captured as a CUDA graph on its first call and replayed
    after (one fixed input shape: the predictor pads every pass to its batch size)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.inner = model
        self.alignment = getattr(model, "alignment", 1)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_in: torch.Tensor | None = None
        self.static_out: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.graph is None:
            self.static_in = x.clone()
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(2):
                    self.inner(self.static_in)
            torch.cuda.current_stream().wait_stream(stream)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.static_out = self.inner(self.static_in)
        assert self.static_in is not None and self.static_out is not None
        self.static_in.copy_(x)
        self.graph.replay()
        return self.static_out


def _wrap(model: torch.nn.Module, variant: str) -> torch.nn.Module:
    """The predictor's eager model wrapped for ``variant`` ("compile" is the plan's own)."""
    if variant == "cuda_graph":
        return GraphedForward(model)
    if variant == "compile_cuda_graph":
        return torch.compile(model, mode="reduce-overhead")  # type: ignore[return-value]
    return model


def _median_s(fn: Callable[[], Any], device: torch.device, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def predictor_case(
    model: torch.nn.Module, plan: InferencePlan, data: np.ndarray, variant: str, repeats: int
) -> tuple[dict[str, Any], np.ndarray]:
    """Seconds per slice of one predictor variant (first call separately: compile time)."""
    torch.backends.cudnn.benchmark = variant == "cudnn_benchmark"
    plan = InferencePlan.from_json(plan.to_json() | {"compiled": variant == "compile"})
    predictor = BlockPredictor(model, plan)
    predictor.model = _wrap(predictor.model, variant)
    device = predictor.device
    depth = data.shape[0]
    box = Box((0, 0, 0), data.shape)
    region = predictor.read_region(box)
    _sync(device)
    t = time.perf_counter()
    labels = predictor.predict(box, data[region.slices], region).labels  # warm-up
    _sync(device)
    first = time.perf_counter() - t
    pipeline = _median_s(
        lambda: predictor.predict(box, data[region.slices], region), device, repeats
    )
    x = torch.randn(plan.batch_size, plan.in_channels, *(2 * [plan.tile + 2 * plan.context]))
    x = x.to(device).contiguous(memory_format=torch.channels_last)
    passes = -(
        -predictor.predict(box, data[region.slices], region).stats.tiles_run // plan.batch_size
    )

    def network() -> None:
        with torch.inference_mode(), autocast(device, plan.precision):
            for _ in range(passes):
                predict_logits(predictor.model, x)

    network()
    net = _median_s(network, device, repeats)
    torch.backends.cudnn.benchmark = False
    return {
        "variant": variant,
        "precision": plan.precision,
        "first_call_s": round(first, 3),
        "pipeline_ms_per_slice": round(1000 * pipeline / depth, 2),
        "network_ms_per_slice": round(1000 * net / depth, 2),
        "pipeline_over_network": round(pipeline / net, 3),
        "volume_1800_slices_min": round(pipeline / depth * 1800 / 60, 2),
    }, labels


def reference_cases(
    model: torch.nn.Module, plan: InferencePlan, data: np.ndarray, repeats: int
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """MONAI (the predictor's batch and one tile per pass) and the naive loop, with the
    predictor's prepared model (eager), per slice; on CUDA MONAI also with that model
    through ``torch.compile``, as volseg runs it by default."""
    device = torch.device(plan.device)
    prepared = BlockPredictor(model, plan).model
    ref = Reference(prepared, plan.normalization, None, plan.tile, plan.overlap, plan.device)
    runs: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "monai": lambda im: ref.monai(im, prepared, True, plan.batch_size),
        "monai_batch1": lambda im: ref.monai(im, prepared, True, 1),
        "naive": lambda im: ref.naive(im, prepared),
    }
    if device.type == "cuda":
        compiled = torch.compile(prepared)
        runs["monai_compiled"] = lambda im: ref.monai(im, compiled, True, plan.batch_size)
    seconds, labels = {}, {}
    for name, fn in runs.items():
        fn(data[0])  # warm-up
        slices = data if name != "naive" else data[:2]
        labels[name] = np.stack([fn(im) for im in slices])
        s = _median_s(lambda fn=fn, slices=slices: [fn(im) for im in slices], device, repeats)
        seconds[name] = round(1000 * s / len(slices), 2)
    return seconds, labels


def measure(
    name: str, data: np.ndarray, device: str, variants: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    torch.manual_seed(0)
    model = build_model(name, in_channels=1, num_classes=3).eval()
    mean, std = float(data.mean()), float(data.std())
    plan = InferencePlan.for_model(
        model,
        normalization=(mean, std),
        logit_offsets=None,
        volume_shape=data.shape,
        device=device,  # type: ignore[arg-type]
    )
    fov = np.broadcast_to(field_of_view(data.shape), data.shape)
    case: dict[str, Any] = {
        "model": name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "tile": plan.tile,
        "overlap": plan.overlap,
        "context": plan.context,
        "batch": plan.batch_size,
        "variants": [],
        "skipped": [],
    }
    eager, labels = predictor_case(model, plan, data, "eager", args.repeats)
    case["variants"].append(eager)
    refs, ref_labels = reference_cases(model, plan, data, args.repeats)
    case["references_ms_per_slice"] = refs
    case["agreement_in_fov"] = {
        k: float((v == labels[: len(v)])[fov[: len(v)]].mean()) for k, v in ref_labels.items()
    }
    best_monai = min(refs["monai"], refs["monai_batch1"])
    case["vs_monai"] = round(best_monai / eager["pipeline_ms_per_slice"], 3)
    case["vs_naive"] = round(refs["naive"] / eager["pipeline_ms_per_slice"], 3)
    precisions = [p for p in args.precisions.split(",") if p] if device == "cuda" else []
    for variant in [v for v in variants if v != "eager"] + precisions:
        if time.monotonic() > args.deadline_at:
            case["skipped"].append(variant)
            continue
        try:
            if variant in precisions:
                p = InferencePlan.from_json(plan.to_json() | {"precision": variant})
                result, other = predictor_case(model, p, data, "eager", args.repeats)
            else:
                result, other = predictor_case(model, plan, data, variant, args.repeats)
            result["labels_equal_eager_in_fov"] = float((other == labels)[fov].mean())
            case["variants"].append(result)
            if variant == "compile":  # volseg's default on CUDA against MONAI's best
                ms = result["pipeline_ms_per_slice"]
                case["compiled_vs_monai"] = round(best_monai / ms, 3)
                if "monai_compiled" in refs:
                    case["compiled_vs_monai_compiled"] = round(refs["monai_compiled"] / ms, 3)
        except Exception as exc:  # a variant that fails is reported, the others still run
            case["variants"].append({"variant": variant, "error": f"{type(exc).__name__}: {exc}"})
    return case


def table(result: dict[str, Any]) -> str:
    lines = [
        f"Per-slice time on {result['device']} ({' x '.join(map(str, result['shape']))} "
        f"phantom slices; torch {result['machine']['torch']}; {result['date']}).",
        "",
        "| model | variant | precision | ms / slice | network alone | pipeline / network "
        "| 1st call s | 1800 slices (min) |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for case in result["cases"]:
        for v in case["variants"]:
            if "error" in v:
                lines.append(f"| {case['model']} | {v['variant']} | | {v['error'][:60]} |||||")
                continue
            lines.append(
                f"| {case['model']} | {v['variant']} | {v['precision']} | "
                f"{v['pipeline_ms_per_slice']} | {v['network_ms_per_slice']} | "
                f"{v['pipeline_over_network']}x | {v['first_call_s']} | "
                f"{v['volume_1800_slices_min']} |"
            )
    lines += [
        "",
        "| model | tile | batch | MONAI ms | MONAI batch 1 ms | MONAI compiled ms | naive ms "
        "| eager vs MONAI | compiled vs MONAI | compiled vs MONAI compiled |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in result["cases"]:
        r = c["references_ms_per_slice"]
        lines.append(
            f"| {c['model']} | {c['tile']} | {c['batch']} | {r['monai']} | {r['monai_batch1']} "
            f"| {r.get('monai_compiled', '-')} | {r['naive']} | {c['vs_monai']}x | "
            f"{c.get('compiled_vs_monai', '-')}x | {c.get('compiled_vs_monai_compiled', '-')}x |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="segnet,segnet-lite")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--precisions", default="fp16,fp32", help="eager, CUDA only")
    parser.add_argument("--deadline", type=float, default=240.0, help="seconds")
    parser.add_argument("--smoke", action="store_true", help="CPU, segnet-lite, 2 small slices")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.deadline_at = time.monotonic() + args.deadline
    device = "cpu" if args.smoke else args.device
    shape = (2, 576, 544) if args.smoke else (args.depth, 2300, 1920)
    if args.smoke:
        args.models, args.repeats = "segnet-lite", 1
    variants = ["eager", "cudnn_benchmark"] if device == "cpu" else args.variants.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        generate_phantom(Path(tmp) / "p.zarr", PhantomConfig(shape=shape, seed=3), progress=False)
        data = np.asarray(zarr.open_array(Path(tmp) / "p.zarr/0", mode="r")[:])
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    result = {
        "benchmark": "gpu_slice",
        "date": now(),
        "device": name,
        "machine": machine(torch=torch.__version__),
        "shape": list(shape),
        "cases": [],
    }
    out = args.out or Path(tempfile.mkdtemp(prefix="volseg-gpu-"))
    for model in args.models.split(","):  # written after each model: a time limit keeps some
        result["cases"].append(measure(model, data, device, variants, args))
        write_results(out, "gpu_slice", result, table(result))
    print(table(result))


if __name__ == "__main__":
    main()
