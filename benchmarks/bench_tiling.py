"""Benchmark (issue 5, 6b): label disagreement between tiled and single-pass inference, as a
function of overlap and blending window, for a trained SegNet checkpoint.

    python benchmarks/bench_tiling.py --model CKPT --volume STORE [--slices 0,16] [--tile 256]
    python benchmarks/bench_tiling.py --smoke        # seeded untrained model, tiny phantom

Writes ``results/tiling.json`` and ``results/tiling.md`` (or into ``--out``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import RESULTS, machine, now, write_results

from volseg.geometry import Box
from volseg.infer import tiling_disagreement
from volseg.io import open_volume
from volseg.models import build_model, load_checkpoint
from volseg.phantom import PhantomConfig, draw_scene, render

OVERLAPS = (0, 16, 32, 64)
WINDOWS = ("gaussian", "uniform", "crop-centre")


def run(
    model: torch.nn.Module,
    images: np.ndarray,
    *,
    tile: int,
    overlaps: tuple[int, ...],
    normalization: tuple[float, float],
    offsets: list[float] | None,
    source: str,
    out: Path,
) -> dict[str, Any]:
    records = tiling_disagreement(
        model,
        images,
        tile=tile,
        overlaps=overlaps,
        windows=WINDOWS,
        normalization=normalization,
        logit_offsets=offsets,
    )
    result = {
        "benchmark": "tiling-disagreement",
        "machine": machine(),
        "created": now(),
        "source": source,
        "tile": tile,
        "image_shape": list(images.shape),
        "records": records,
    }
    write_results(out, "tiling", result, table(result))
    return result


def table(result: dict[str, Any]) -> str:
    recs = result["records"]
    overlaps = sorted({r["overlap"] for r in recs})
    lines = [
        f"Tiled vs single-pass labels, {result['source']}, tile {result['tile']} px, "
        f"image {' x '.join(map(str, result['image_shape']))}; {result['created']}.",
        "",
        "| window | " + " | ".join(f"overlap {o}" for o in overlaps) + " |",
        "|---|" + "---:|" * len(overlaps),
    ]
    for w in WINDOWS:
        row = {r["overlap"]: r["disagreement"] for r in recs if r["window"] == w}
        lines.append(f"| {w} | " + " | ".join(f"{100 * row[o]:.3f} %" for o in overlaps) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--volume", type=Path)
    parser.add_argument("--slices", default="0")
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.smoke:
        torch.manual_seed(0)
        model = build_model("segnet", in_channels=1, num_classes=3, width=4).eval()
        config = PhantomConfig(shape=(1, 96, 96), seed=1)
        image, _ = render(draw_scene(config), Box.from_shape(config.shape))
        out = args.out or Path(tempfile.mkdtemp(prefix="volseg-smoke-"))
        result = run(
            model,
            image.astype(np.float32),
            tile=64,
            overlaps=(0, 32),
            normalization=(128.0, 40.0),
            offsets=None,
            source="smoke",
            out=out,
        )
    else:
        ckpt = load_checkpoint(args.model)
        zs = [int(z) for z in args.slices.split(",")]
        images = open_volume(args.volume).values[zs].astype(np.float32)
        norm = ckpt.metadata["normalization"]
        result = run(
            ckpt.model,
            images,
            tile=args.tile,
            overlaps=OVERLAPS,
            normalization=(norm["mean"], norm["std"]),
            offsets=ckpt.metadata.get("logit_offsets"),
            source=f"{args.model.name} on {args.volume.name} slices {zs}",
            out=args.out or RESULTS,
        )
    print(table(result))


if __name__ == "__main__":
    main()
