"""The demo runs the whole main job (phantom → train → segment → evaluate) end to end."""

from __future__ import annotations

import json

from volseg.demo import run_demo
from volseg.io import VolumeStore, open_labels


def test_demo_end_to_end_small(tmp_path):
    r = run_demo(
        tmp_path / "demo",
        shape=(8, 128, 128),
        epochs=1,
        crops=16,
        crop_size=96,
        workers=1,
        progress=False,
    )
    p = r.paths
    for key in ("volume", "model", "report", "training"):
        assert p[key].exists(), key
    seg = VolumeStore.open(p["segmentation"])
    assert seg.complete and "segmentation" in seg.label_names
    assert open_labels(p["segmentation"], "segmentation").shape == (8, 128, 128)
    summary = json.loads((p["evaluation"] / "metrics.json").read_text())["summary"]
    assert summary["slices_scored"] == 8
    assert 0.0 <= r.scores["accuracy"] <= 1.0 and "iou_soma" in r.scores
    assert sorted(f.name for f in p["overlays"].iterdir()) == [
        "compare_z0002.png",
        "compare_z0004.png",
        "overlay_z0002.png",
        "overlay_z0004.png",
    ]
    # ... and ends with the somas in 3D: objects, table, meshes and their picture
    objects = VolumeStore.open(p["objects"])
    assert objects.complete and "soma_objects" in objects.label_names
    assert r.scores["soma_objects"] >= 0
    assert p["object_table"].is_file() and p["meshes_picture"].stat().st_size > 10_000
