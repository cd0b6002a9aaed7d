"""Benchmark (issue 10, requirements 2, 5 and 7): somas vs vessels after 3D classification.

    python benchmarks/bench_classify.py [--work out/bench_classify]
    python benchmarks/bench_classify.py --smoke      # tiny phantoms and networks, a minute

One run, one dask cluster (2 worker processes × 1 thread) for every segmentation and
classification:

1. two phantoms of 64 × 1024 × 1024: one to train on (seed 0), one held out (seed 1);
2. segnet-lite trained on every 4th slice of the training phantom with 1 (2D), 3 and 5
   (2.5D) adjacent slices as input channels, one recipe (checkpoints in ``--work`` are
   reused when their recipe is the same);
3. each network segments both phantoms; a classifier is trained per network on the
   network's segmentation of the training phantom, labelled by the annotated slices only;
4. rows, all scored on the held-out phantom: the network alone; the network + classifier;
   and the oracle (a classifier trained and applied on ground-truth foreground, which
   isolates classifier error from segmentation error). Per row: voxel IoU of soma and
   vessel, object-level soma precision and recall (objects matched at IoU ≥ 0.5, objects
   smaller than ``MIN_VOXELS`` dropped on both sides), and for the classified rows the
   object accuracy against the truth, the merges (components holding the majority of two
   or more true objects) and what the cut at necks recovered;
5. the classification stage's wall time against the segmentation's (goal < 10 %).

Writes ``results/classify.json`` and ``.md`` (or into ``--out``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _common import RESULTS, machine, now, write_results

from volseg.classify import (
    CLASSIFIED,
    INSTANCES,
    classify,
    foreground_store,
    object_accuracy,
    train_classifier,
)
from volseg.evaluate import (
    evaluate_volumes,
    instance_labels,
    match_objects,
    object_overlaps,
    open_label_volume,
)
from volseg.io import VolumeStore
from volseg.phantom import PhantomConfig, generate_phantom
from volseg.runtime import connect
from volseg.segment import make_segment_config, segment
from volseg.train import make_config, train

GOALS = {
    "iou_soma": 0.85,
    "iou_vessel": 0.80,
    "soma_precision": 0.95,
    "soma_recall": 0.90,
    "oracle_object_accuracy": 0.98,
    "classify_over_segment": 0.10,
}
#: Dust: objects smaller than this are dropped by the classifier and in the object scores.
MIN_VOXELS = 200


def _phantom(path: Path, shape: tuple[int, int, int], seed: int, smoke: bool) -> Path:
    if (path / "zarr.json").is_file() and VolumeStore.open(path).complete:
        return path
    extra = {"vessel_density": 150, "soma_fraction": 0.08, "soma_median_diameter": 16.0}
    config = PhantomConfig(shape=shape, seed=seed, **(extra if smoke else {}))
    generate_phantom(path, config, overwrite=True, progress=False)
    return path


def _recipe(work: Path, train_store: Path, channels: int, smoke: bool) -> dict[str, Any]:
    depth = VolumeStore.open(train_store).image(0).shape[0]
    return {
        "train": {"source": str(train_store), "slices": list(range(0, depth, 4))},
        "validation": {
            "source": str(train_store),
            "slices": [depth // 6, depth // 2 + 2, depth - 10] if not smoke else [depth // 2 + 2],
        },
        "out": str(work / f"net_c{channels}"),
        "model": "segnet-lite",
        "in_channels": channels,
        "crop_size": 128 if smoke else 256,
        "crops": 64 if smoke else 400,
        "class_weights": "inverse",
        "epochs": 4 if smoke else 8,
        "batch_size": 8,
        "class_of_interest": 1,
        "seed": 0,
    }


def _network(work: Path, train_store: Path, channels: int, smoke: bool) -> tuple[Path, bool]:
    """The checkpoint of the recipe: reused when ``config.yaml`` holds the same recipe."""
    config = make_config(_recipe(work, train_store, channels, smoke))
    out = Path(config.out)
    best = out / "best.pt"
    if best.is_file() and (out / "config.yaml").is_file():
        import yaml

        if yaml.safe_load((out / "config.yaml").read_text()) == config.resolved():
            return best, True
    result = train(config, progress=False)
    return result.best_checkpoint or result.last_checkpoint, False


def _segment(volume: Path, model: Path, out: Path, scheduler: str) -> float:
    t0 = time.perf_counter()
    result = segment(
        make_segment_config(
            {
                "volume": str(volume),
                "model": str(model),
                "out": str(out),
                "overwrite": True,
                "scheduler": scheduler,
                "device": "cpu",
            }
        ),
        progress=False,
    )
    if not result.ok:
        raise SystemExit(f"segmentation of {volume} failed: {result.summary}")
    return time.perf_counter() - t0


def _drop_small(ids: np.ndarray) -> np.ndarray:
    sizes = np.bincount(ids.ravel())
    keep = sizes >= MIN_VOXELS
    keep[0] = False
    return np.where(keep[ids], ids, 0)


def _soma_objects(pred: np.ndarray, gt_somas: np.ndarray, soma_ids: Any = None) -> dict[str, Any]:
    match = match_objects(object_overlaps(pred, gt_somas), pred_ids=soma_ids, iou_threshold=0.5)
    return {
        "soma_precision": match.precision,
        "soma_recall": match.recall,
        "soma_objects": int(match.tp + match.fp),
        "soma_true_objects": int(match.tp + match.fn),
    }


def _scores(pred_store: Path, labels: str, truth: Path) -> dict[str, float]:
    ev = evaluate_volumes(
        open_label_volume(pred_store, labels=labels, role="pred"),
        open_label_volume(truth, role="gt"),
        progress=False,
    )
    iou = dict(zip(ev.classes, ev.iou, strict=True))
    return {"iou_soma": float(iou["soma"]), "iou_vessel": float(iou["vessel"])}


def _classified_row(
    run: Any, test_store: Path, truth: np.ndarray, gt_somas: np.ndarray, gt_objects: np.ndarray
) -> dict[str, Any]:
    """Object accuracy, merges and what the cut recovered, from one classification."""
    table = run.table
    ids = np.asarray(VolumeStore.open(run.store).labels(INSTANCES)[:]).astype(np.int64)
    score = object_accuracy(run.store, table, truth)
    # merges: components holding the majority of two or more true objects
    component = np.concatenate([[0], table["component"].to_numpy()])[ids]
    overlaps = object_overlaps(component, gt_objects)
    share = overlaps.counts / overlaps.gt_size(overlaps.pairs[:, 1])
    held = overlaps.pairs[share > 0.5]
    comps, n_held = np.unique(held[:, 0], return_counts=True)
    merged = comps[n_held >= 2]
    merged_truth = held[np.isin(held[:, 0], merged), 1]
    pieces = match_objects(object_overlaps(ids, gt_objects), gt_ids=merged_truth)
    somas = table.loc[table["class"] == "soma", "id"].to_numpy()
    return {
        **_scores(run.store, CLASSIFIED, test_store),
        **_soma_objects(ids, gt_somas, somas),
        "object_accuracy": score.accuracy,
        "objects": len(table),
        "components": run.n_components,
        "cut_components": run.n_split,
        "merged_components": len(merged),
        "objects_in_merges": len(merged_truth),
        "recovered_by_cut": int(pieces.tp),
        "classify_seconds": run.seconds,
    }


def _classify(
    segmented: tuple[Path, Path], train_store: Path, name: str, work: Path, client: Any
) -> tuple[Any, Any]:
    """Train a classifier on the segmentation of the training phantom (its annotated slices)
    and classify the segmentation of the test phantom."""
    depth = VolumeStore.open(train_store).image(0).shape[0]
    clf = train_classifier(
        segmented[0],
        train_store,
        work / f"classifier_{name}.vsclf",
        slices=range(0, depth, 4),
        min_voxels=MIN_VOXELS,
        client=client,
        overwrite=True,
        progress=False,
    )
    run = classify(
        segmented[1],
        clf.path,
        work / f"classified_{name}",
        client=client,
        overwrite=True,
        progress=False,
    )
    return clf, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("out/bench_classify"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--smoke", action="store_true", help="tiny phantoms and networks")
    parser.add_argument("--channels", default="1,3,5", help="input channels of the networks")
    args = parser.parse_args()
    work = args.work if not args.smoke else args.out / "work"
    work.mkdir(parents=True, exist_ok=True)
    shape = (16, 256, 256) if args.smoke else (64, 1024, 1024)
    channels = [int(c) for c in args.channels.split(",")]
    if args.smoke:
        channels = channels[:2]
    t_start = time.perf_counter()
    train_store = _phantom(work / "phantom_train.zarr", shape, 0, args.smoke)
    test_store = _phantom(work / "phantom_test.zarr", shape, 1, args.smoke)
    stores = (train_store, test_store)
    annotated = list(range(0, shape[0], 4))
    truth = np.asarray(VolumeStore.open(test_store).labels("ground_truth")[:])
    gt_somas = instance_labels(truth, 1)
    gt_objects = instance_labels((truth > 0).astype(np.uint8), 1)
    rows: list[dict[str, Any]] = []
    with connect(n_workers=2, threads_per_worker=1) as client:
        scheduler = client.scheduler.address
        for c in channels:
            model, reused = _network(work, train_store, c, args.smoke)
            name = "2D" if c == 1 else f"2.5D ({c} slices)"
            seg_test = work / f"seg_c{c}_test.zarr"
            seg_seconds = _segment(test_store, model, seg_test, scheduler)
            _segment(train_store, model, work / f"seg_c{c}_train.zarr", scheduler)
            seg = np.asarray(VolumeStore.open(seg_test).labels("segmentation")[:])
            alone = {"row": name, "network": str(model), "network_reused": reused}
            alone |= _scores(seg_test, "segmentation", test_store)
            alone |= _soma_objects(_drop_small(instance_labels(seg, 1)), gt_somas)
            alone["segment_seconds"] = seg_seconds
            rows.append(alone)
            clf, run = _classify(
                (work / f"seg_c{c}_train.zarr", seg_test), train_store, f"c{c}", work, client
            )
            row = {"row": f"{name} + classifier", "network": str(model)}
            row |= _classified_row(run, test_store, truth, gt_somas, gt_objects)
            row |= {"segment_seconds": seg_seconds, "trained_on": clf.n_used}
            row["classify_over_segment"] = run.seconds / seg_seconds
            rows.append(row)
            print(json.dumps(rows[-2:], default=str), flush=True)
        # the oracle: ground-truth foreground in, classes out
        fg = tuple(
            foreground_store(store, work / f"foreground_{store.stem}.zarr", overwrite=True)
            for store in stores
        )
        clf, run = _classify((fg[0], fg[1]), train_store, "oracle", work, client)
        row = {"row": "oracle: classifier on true foreground"}
        row |= _classified_row(run, test_store, truth, gt_somas, gt_objects)
        row["trained_on"] = clf.n_used
        rows.append(row)
    result = {
        "benchmark": "classify",
        "date": now(),
        "machine": machine(workers="2 processes x 1 thread"),
        "shape": list(shape),
        "annotated_slices": annotated,
        "min_voxels": MIN_VOXELS,
        "goals": GOALS,
        "rows": rows,
        "seconds": time.perf_counter() - t_start,
        "smoke": args.smoke,
    }
    write_results(args.out, "classify", result, _table(result))
    print(_table(result))


def _table(result: dict[str, Any]) -> str:
    shape = " × ".join(str(s) for s in result["shape"])
    lines = [
        f"# Somas vs vessels: classification of 3D objects ({shape} phantom, held out)",
        "",
        f"{result['machine']['cpu']}, {result['machine']['workers']}; {result['date']}. "
        f"Networks: segnet-lite trained on every 4th slice of another phantom; classifiers "
        f"trained on each network's segmentation of that phantom, labelled by those slices. "
        f"Objects < {result['min_voxels']} voxels dropped.",
        "",
        "| row | IoU soma | IoU vessel | soma precision | soma recall | object accuracy "
        "| merges (objects) | recovered by cut | classify / segment |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def f(row: dict[str, Any], key: str, fmt: str = ".3f") -> str:
        value = row.get(key)
        return "" if value is None or value != value else format(value, fmt)

    for row in result["rows"]:
        merges = (
            f"{row['merged_components']} ({row['objects_in_merges']})"
            if "merged_components" in row
            else ""
        )
        lines.append(
            f"| {row['row']} | {f(row, 'iou_soma')} | {f(row, 'iou_vessel')} "
            f"| {f(row, 'soma_precision')} | {f(row, 'soma_recall')} "
            f"| {f(row, 'object_accuracy')} | {merges} | {row.get('recovered_by_cut', '')} "
            f"| {f(row, 'classify_over_segment', '.1%')} |"
        )
    goals = result["goals"]
    lines += [
        "",
        f"Goals: IoU soma ≥ {goals['iou_soma']}, vessel ≥ {goals['iou_vessel']}; soma "
        f"precision ≥ {goals['soma_precision']}, recall ≥ {goals['soma_recall']}; oracle object "
        f"accuracy ≥ {goals['oracle_object_accuracy']}; classification < "
        f"{goals['classify_over_segment']:.0%} of segmentation time.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    pd.set_option("display.width", 200)
    main()
