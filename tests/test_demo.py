"""The demo runs the whole main job end to end, as a user runs it: phantom → train →
segment → evaluate → classify somas vs vessels → evaluate → reconstruct the somas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from volseg.classify import CLASSIFIED, INSTANCES
from volseg.io import VolumeStore, open_labels


def test_demo_end_to_end(demo_cli: tuple[Path, dict[str, Any]]):
    # `volseg demo --json` on the built-in defaults (the network must be trained enough to
    # find objects of both classes in the annotated slices, or there is nothing to train
    # the classifier on)
    root, summary = demo_cli
    p = {key: Path(path) for key, path in summary["paths"].items()}
    assert Path(summary["out"]) == (root / "out" / "demo").resolve()
    for key in ("volume", "model", "report", "training", "classifier", "classified_report"):
        assert p[key].exists(), key
    seg = VolumeStore.open(p["segmentation"])
    assert seg.complete and "segmentation" in seg.label_names
    assert open_labels(p["segmentation"], "segmentation").shape == (32, 384, 384)
    metrics = json.loads((p["evaluation"] / "metrics.json").read_text())["summary"]
    assert metrics["slices_scored"] == 32
    assert sorted(f.name for f in p["overlays"].iterdir()) == [
        "compare_z0008.png",
        "compare_z0016.png",
        "overlay_z0008.png",
        "overlay_z0016.png",
    ]
    s = summary["scores"]
    # the classifier learned both classes from the annotated slices of the training volume
    assert s["classifier_objects"]["soma"] > 0 and s["classifier_objects"]["vessel"] > 0
    # classified labels: soma and vessel objects, and somas hold fewer vessel voxels
    classified = VolumeStore.open(p["classified"])
    assert classified.complete and {CLASSIFIED, INSTANCES} <= set(classified.label_names)
    assert s["classified_objects"]["soma"] > 0 and s["classified_objects"]["vessel"] > 0
    assert s["classified_iou_vessel"] > s["iou_vessel"] - 0.1
    assert s["classified_iou_soma"] > s["iou_soma"]
    # ... and ends with the somas in 3D, vessels left out, and all objects by class
    objects = VolumeStore.open(p["objects"])
    assert objects.complete and "soma_objects" in objects.label_names
    soma_ids = open_labels(p["objects"], "soma_objects").values
    labels = open_labels(p["classified"], CLASSIFIED).values
    assert soma_ids.max() == s["soma_objects"] > 0
    assert (labels[soma_ids > 0] == 1).all()
    assert len(pd.read_csv(p["object_table"])) == s["soma_objects"]
    assert p["meshes_picture"].stat().st_size > 10_000
    assert summary["seconds"] < 15 * 60
