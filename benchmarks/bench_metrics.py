"""Benchmark: numba metrics vs a plain scipy (distance-transform) implementation.

On a full-size 2300 x 1920 slice with a few hundred blobs (somas: discs and ellipses of
15–100 px) and a prediction that perturbs them (shifted, dilated, eroded, missed and false
blobs), times ``bf1`` against the ``distance_transform_edt`` formulation in the same run,
checks that both give the same counts, and times ``confusion_matrix`` and ``boundary``.

Writes ``results/metrics.json`` and ``results/metrics.md``::

    python benchmarks/bench_metrics.py            # full size
    python benchmarks/bench_metrics.py --smoke    # tiny, for CI (results to a temp dir)
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np
import scipy
from _common import RESULTS, machine, now, write_results
from scipy import ndimage

from volseg.evaluate import evaluate_volumes, open_label_volume
from volseg.io import open_labels
from volseg.metrics import BF1Scores, bf1, bf1_counts, boundary, confusion_matrix
from volseg.metrics._reference import (
    bf1_counts_reference,
    boundary_reference,
    confusion_matrix_reference,
)
from volseg.phantom import PhantomConfig, generate_phantom

GOAL_SPEEDUP = 20.0


def _ellipse(out: np.ndarray, cy: float, cx: float, ry: float, rx: float, angle: float) -> None:
    """Set the pixels of a rotated filled ellipse in ``out`` (clipped to the image)."""
    r = max(ry, rx) + 1
    y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 1, out.shape[0])
    x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 1, out.shape[1])
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1]
    c, s = np.cos(angle), np.sin(angle)
    u = ((yy - cy) * c + (xx - cx) * s) / ry
    v = (-(yy - cy) * s + (xx - cx) * c) / rx
    out[y0:y1, x0:x1] |= u * u + v * v <= 1.0


def blob_pair(shape: tuple[int, int], n_blobs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(pred, gt) masks: GT blobs 15–100 px across; pred perturbs each, plus false blobs."""
    rng = np.random.default_rng(seed)
    gt = np.zeros(shape, bool)
    pred = np.zeros(shape, bool)
    for _ in range(n_blobs):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        d = rng.uniform(15, 100)
        ry, rx = d / 2, d / 2 * rng.uniform(0.5, 1.0)
        angle = rng.uniform(0, np.pi)
        _ellipse(gt, cy, cx, ry, rx, angle)
        action = rng.choice(
            ["keep", "shift", "dilate", "erode", "miss"], p=[0.3, 0.25, 0.2, 0.15, 0.1]
        )
        if action == "miss":
            continue
        dy, dx, dr = 0.0, 0.0, 0.0
        if action == "shift":
            dy, dx = rng.uniform(-3, 3, size=2)
        elif action == "dilate":
            dr = rng.uniform(0.5, 3)
        elif action == "erode":
            dr = -rng.uniform(0.5, 3)
        _ellipse(pred, cy + dy, cx + dx, max(ry + dr, 1), max(rx + dr, 1), angle)
    for _ in range(max(n_blobs // 10, 1)):  # false positives: vessels taken for somas
        _ellipse(
            pred,
            rng.uniform(0, shape[0]),
            rng.uniform(0, shape[1]),
            *rng.uniform(8, 40, size=2),
            rng.uniform(0, np.pi),
        )
    # ragged predicted edges: flip a few pixels next to the predicted boundary
    ring = ndimage.binary_dilation(boundary(pred)) & (rng.random(shape) < 0.05)
    pred ^= ring
    return pred, gt


def _best_ms(fn: Callable[[], Any], repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return round(best * 1e3, 3)


def volume_evaluation(shape: tuple[int, int, int]) -> dict[str, Any]:
    """Throughput of ``evaluate_volumes`` on a phantom label volume vs a perturbed copy."""
    work = Path(tempfile.mkdtemp(prefix="volseg-bench-eval-"))
    try:
        store = generate_phantom(work / "gt.zarr", PhantomConfig(shape=shape), progress=False)
        gt = open_labels(store.path).values
        pred = np.roll(gt, 1, axis=2)
        pred[gt == 2] = 1  # vessels mistaken for somas
        np.save(work / "pred.npy", pred)
        p = open_label_volume(work / "pred.npy", role="pred")
        g = open_label_volume(store.path, role="gt")
        t0 = time.perf_counter()
        ev = evaluate_volumes(p, g, progress=False)
        seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "shape": list(shape),
        "classes": len(ev.classes),
        "seconds": round(seconds, 3),
        "slices_per_s": round(shape[0] / seconds, 3),
        "includes": "per-slice confusion, IoU, BF1 of every class + 3D surface BF1, 2 threads",
        "soma_bf1_mean": ev.bf1[1],
    }


def run(
    shape: tuple[int, int], n_blobs: int, repeats: int, out: Path, depth: int = 16
) -> dict[str, Any]:
    pred, gt = blob_pair(shape, n_blobs, seed=0)
    cases = []
    for tol in (2.0, 5.0):
        bf1(pred, gt, tolerance=tol)  # warm-up (compile or load the numba cache)
        counts = bf1_counts(pred, gt, tolerance=tol)
        ref = bf1_counts_reference(pred, gt, tolerance=tol)
        fast_ms = _best_ms(lambda t=tol: bf1(pred, gt, tolerance=t), repeats)
        ref_ms = _best_ms(
            lambda t=tol: BF1Scores.from_counts(bf1_counts_reference(pred, gt, tolerance=t)),
            max(repeats // 2, 1),
        )
        cases.append(
            {
                "case": f"bf1 tolerance {tol:g}",
                "numba_ms": fast_ms,
                "reference": "binary_erosion + distance_transform_edt (scipy)",
                "reference_ms": ref_ms,
                "speedup": round(ref_ms / fast_ms, 1),
                "counts_equal": counts == ref,
                "score": BF1Scores.from_counts(counts).score,
                "reference_score": BF1Scores.from_counts(ref).score,
                "counts": {
                    k: getattr(counts, k) for k in ("matched_pred", "n_pred", "matched_gt", "n_gt")
                },
            }
        )
    lp, lg = pred.astype(np.uint8), gt.astype(np.uint8)
    confusion_matrix(lp, lg, 2)
    cases.append(
        {
            "case": "confusion_matrix (uint8, 2 classes)",
            "numba_ms": (c_ms := _best_ms(lambda: confusion_matrix(lp, lg, 2), repeats)),
            "reference": "np.bincount",
            "reference_ms": (
                r_ms := _best_ms(lambda: confusion_matrix_reference(lp, lg, 2), repeats)
            ),
            "speedup": round(r_ms / c_ms, 1),
            "counts_equal": bool(
                np.array_equal(confusion_matrix(lp, lg, 2), confusion_matrix_reference(lp, lg, 2))
            ),
        }
    )
    cases.append(
        {
            "case": "boundary",
            "numba_ms": (b_ms := _best_ms(lambda: boundary(gt), repeats)),
            "reference": "scipy.ndimage.binary_erosion",
            "reference_ms": (r_ms := _best_ms(lambda: boundary_reference(gt), repeats)),
            "speedup": round(r_ms / b_ms, 1),
            "counts_equal": bool(np.array_equal(boundary(gt), boundary_reference(gt))),
        }
    )
    result = {
        "benchmark": "metrics",
        "machine": machine(
            numba_threads=numba.get_num_threads(),
            threading_layer=numba.threading_layer(),
            numpy=np.__version__,
            numba=numba.__version__,
            scipy=scipy.__version__,
        ),
        "created": now(),
        "shape": list(shape),
        "n_blobs": n_blobs,
        "foreground_fraction": {"gt": float(gt.mean()), "pred": float(pred.mean())},
        "repeats": repeats,
        "goal_speedup": GOAL_SPEEDUP,
        "cases": cases,
        "volume_evaluation": volume_evaluation((depth, *shape)),
    }
    write_results(out, "metrics", result, table(result))
    return result


def table(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"Measured {result['created']} on {m['cpus']} CPUs ({m['cpu']}), "
        f"{m['numba_threads']} numba threads; {' x '.join(map(str, result['shape']))} masks, "
        f"{result['n_blobs']} blobs; best of {result['repeats']} (reference: of "
        f"{max(result['repeats'] // 2, 1)} for BF1).",
        "",
        "| case | volseg (ms) | reference | reference (ms) | speed-up | identical |",
        "|---|---:|---|---:|---:|---|",
    ]
    for c in result["cases"]:
        lines.append(
            f"| {c['case']} | {c['numba_ms']:.2f} | {c['reference']} | {c['reference_ms']:.1f} "
            f"| {c['speedup']:.1f}x | {'yes' if c['counts_equal'] else 'NO'} |"
        )
    v = result["volume_evaluation"]
    lines += [
        "",
        f"Volume evaluation (`evaluate_volumes`, {v['includes']}): "
        f"{' x '.join(map(str, v['shape']))} labels in {v['seconds']:.1f} s = "
        f"**{v['slices_per_s']:.2f} slices/s**.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, results to a temp dir")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per case (best kept)")
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    args = parser.parse_args()
    if args.smoke:
        out = args.out or Path(tempfile.mkdtemp(prefix="volseg-smoke-"))
        result = run((230, 192), 12, 2, out, depth=3)
    else:
        result = run((2300, 1920), 300, args.repeats, args.out or RESULTS)
    print(table(result))


if __name__ == "__main__":
    main()
