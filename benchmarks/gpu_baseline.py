"""GPU baseline (issue 16): the shipped BlockPredictor per 2300 x 1920 slice against the
network alone, on the derived tiling, for segnet-lite and SegNet (untrained weights).

    python benchmarks/gpu_baseline.py --device cuda      # on the GPU machine, ~15 s
    python benchmarks/gpu_baseline.py --smoke            # CPU, tiny slices, seconds

"network alone" runs the same number of forward passes on batches already on the device
(bf16 autocast, channels-last, BatchNorm folded), so the difference is what the pipeline
adds around the network: normalization, host-device copies, blending and the decision.
Writes ``gpu_baseline.json`` into ``--out`` (default: benchmarks/results, named after the
device).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import RESULTS, machine, now, write_results

from volseg.geometry import Box
from volseg.infer import BlockPredictor, InferencePlan
from volseg.models import build_model
from volseg.tiling import derive_batch_size, derive_context, derive_tiling


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def measure(name: str, data: np.ndarray, device: str) -> dict[str, Any]:
    depth, height, width = data.shape
    torch.manual_seed(0)
    model = build_model(name, in_channels=1, num_classes=3).eval()
    tile, overlap = derive_tiling(alignment=32, overlap=0.25, device=device)  # type: ignore[arg-type]
    context = derive_context(alignment=32, overlap=overlap)
    params = sum(p.numel() for p in model.parameters())
    batch = derive_batch_size(tile, device, model_params=params)  # type: ignore[arg-type]
    plan = InferencePlan(
        volume_shape=(depth, height, width),
        tile=tile,
        overlap=overlap,
        context=context,
        batch_size=batch,
        device=device,  # type: ignore[arg-type]
        normalization=(100.0, 40.0),
    )
    predictor = BlockPredictor(model, plan)
    one = Box((0, 0, 0), (1, height, width))
    region = predictor.read_region(one)
    predictor.predict(one, data[region.slices], region)  # warm-up
    box = Box((0, 0, 0), data.shape)
    region = predictor.read_region(box)
    _sync(device)
    t = time.perf_counter()
    result = predictor.predict(box, data[region.slices], region)
    _sync(device)
    pipeline = (time.perf_counter() - t) / depth
    side = tile + 2 * context
    x = torch.randn(batch, 1, side, side, device=device).to(memory_format=torch.channels_last)
    passes = -(-result.stats.tiles_run // batch)
    with (
        torch.inference_mode(),
        torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"),
    ):
        predictor.model(x)
        _sync(device)
        t = time.perf_counter()
        for _ in range(passes):
            predictor.model(x)
        _sync(device)
    network = (time.perf_counter() - t) / depth
    return {
        "model": name,
        "parameters": params,
        "tile": tile,
        "overlap": overlap,
        "context": context,
        "batch": batch,
        "tiles_per_slice": result.stats.tiles_run / depth,
        "pipeline_s_per_slice": round(pipeline, 4),
        "network_only_s_per_slice": round(network, 4),
        "pipeline_over_network": round(pipeline / network, 2),
        "volume_1800_slices_min": round(pipeline * 1800 / 60, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--smoke", action="store_true", help="CPU, 2 slices of 256 x 192")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    device = "cpu" if args.smoke else args.device
    shape = (2, 256, 192) if args.smoke else (args.depth, 2300, 1920)
    data = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    cases = [measure(m, data, device) for m in ("segnet-lite", "segnet")]
    result = {
        "benchmark": "gpu_baseline",
        "date": now(),
        "device": name,
        "machine": machine(torch=torch.__version__),
        "shape": list(shape),
        "cases": cases,
    }
    write_results(args.out, "gpu_baseline", result)
    for c in cases:
        print(c)


if __name__ == "__main__":
    main()
