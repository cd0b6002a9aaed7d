"""Smoke-sized runs of the benchmarks so they never rot."""

from __future__ import annotations

import pytest

from volseg.models import build_model


def test_foundation_benchmark_smoke(smoke_benchmark, tmp_path):
    result = smoke_benchmark("bench_foundation.py", "foundation.json")
    cases = {c["case"]: c for c in result["cases"]}
    assert set(cases) == {
        "phantom --mode fast",
        "phantom --mode ct",
        "ingest PNG slices + labels",
        "ingest TIF slices + labels",
    }
    assert all(c["slices_per_s"] > 0 and c["MB_per_s"] > 0 for c in cases.values())
    assert "| phantom --mode fast |" in (tmp_path / "foundation.md").read_text()


def test_tiling_benchmark_smoke(smoke_benchmark):
    result = smoke_benchmark("bench_tiling.py", "tiling.json")
    recs = result["records"]
    assert {(r["window"], r["overlap"]) for r in recs} == {
        (w, o) for w in ("gaussian", "uniform", "crop-centre") for o in (0, 32)
    }
    assert all(0.0 <= r["disagreement"] <= 1.0 and r["tiles"] > 0 for r in recs)


def test_segment_benchmark_smoke(smoke_benchmark, tmp_path):
    result = smoke_benchmark("bench_segment.py", "segment_cpu.json")
    t = result["throughput"]
    assert set(t) == {
        "volseg",
        "volseg_whole_call",
        "naive",
        "monai",
        "monai_fused_channels_last",
        "monai_fused_channels_last_batch1",
    }
    assert t["volseg"]["volseg_speedup"] == 1.0
    # the same resolved run on a running cluster and with its own: the same labels
    assert t["volseg_whole_call"]["label_agreement_in_fov"] == 1.0
    # derived on CPU: 2**18 px of 64 px tiles (64), capped by the 3 x 3 tiles of a block
    assert t["volseg"]["batch_size"] == 9
    for r in t.values():
        assert r["seconds"] > 0 and r["voxels_per_s"] > 0
        assert 0.9 <= r["label_agreement_in_fov"] <= 1.0
    goals = result["goals"]
    assert goals["vs_monai_best_of"] in {
        "monai_fused_channels_last",
        "monai_fused_channels_last_batch1",
    }
    best = t[goals["vs_monai_best_of"]]["seconds"]
    assert goals["vs_monai_same_model"] == pytest.approx(best / t["volseg"]["seconds"], rel=0.05)
    assert set(result["per_slice"]) == {"segnet-lite"}
    assert result["per_slice"]["segnet-lite"]["slices"] == result["volume_shape"][0]
    assert [m["depth"] for m in result["memory"]] == [2, 4]
    assert all(m["worker_peak_rss_mib"] > 50 for m in result["memory"])
    assert [s["workers"] for s in result["scaling"]] == [1, 2]
    assert "| monai |" in (tmp_path / "segment_cpu.md").read_text()


def test_reconstruct_benchmark_smoke(smoke_benchmark, tmp_path):
    result = smoke_benchmark("bench_reconstruct.py", "reconstruct.json")
    assert result["volume_shape"] == [8, 96, 96]
    assert [c["class"] for c in result["cases"]] == ["soma", "vessel"]
    for c in result["cases"]:
        assert c["n_blocks"] == 4
        assert c["same_objects"] is True
        assert c["scipy_equal"] is True
        v, d, s = c["volseg"], c["dask_image"], c["scipy"]
        assert v["n_objects"] == d["n_objects"] == s["n_objects"]
        assert v["seconds"] > 0 and v["voxels_per_s"] > 0 and d["seconds"] > 0
        assert c["dask_image_over_volseg"] > 0
    assert [m["depth"] for m in result["memory"]] == [8, 16]
    assert all(m["worker_peak_rss_mib"] > 50 for m in result["memory"])
    assert "| soma | volseg |" in (tmp_path / "reconstruct.md").read_text()


def test_classify_benchmark_smoke(smoke_benchmark, tmp_path):
    result = smoke_benchmark("bench_classify.py", "classify.json")
    assert result["shape"] == [16, 256, 256] and result["smoke"] is True
    rows = {r["row"]: r for r in result["rows"]}
    assert list(rows) == [
        "2D",
        "2D + classifier",
        "2.5D (3 slices)",
        "2.5D (3 slices) + classifier",
        "oracle: classifier on true foreground",
    ]
    # the tiny networks segment poorly, but the oracle shows the stage itself works
    oracle = rows["oracle: classifier on true foreground"]
    assert oracle["iou_soma"] >= 0.8 and oracle["iou_vessel"] >= 0.8
    assert oracle["soma_precision"] >= 0.9 and oracle["object_accuracy"] >= 0.8
    assert oracle["components"] == oracle["objects"] > 10
    for name in ("2D + classifier", "2.5D (3 slices) + classifier"):
        row = rows[name]
        assert row["classify_seconds"] > 0 and row["segment_seconds"] > 0
        assert row["classify_over_segment"] == row["classify_seconds"] / row["segment_seconds"]
    assert "| oracle: classifier on true foreground |" in (tmp_path / "classify.md").read_text()


def test_gpu_slice_benchmark_smoke(smoke_benchmark):
    result = smoke_benchmark("bench_gpu.py", "gpu_slice.json")
    assert result["device"] == "cpu" and result["shape"] == [2, 576, 544]
    (case,) = result["cases"]
    model = build_model(case["model"], in_channels=1, num_classes=3)
    assert case["parameters"] == sum(p.numel() for p in model.parameters())
    variants = {v["variant"]: v for v in case["variants"]}
    assert set(variants) == {"eager", "cudnn_benchmark"}
    for v in variants.values():
        assert v["precision"] == "fp32"
        assert v["pipeline_over_network"] == pytest.approx(
            v["pipeline_ms_per_slice"] / v["network_ms_per_slice"], rel=0.02
        )
    # MONAI and the naive loop run the predictor's model, window and tiling: same labels
    assert min(case["agreement_in_fov"].values()) >= 0.999
    refs = case["references_ms_per_slice"]
    assert case["vs_monai"] == pytest.approx(
        min(refs["monai"], refs["monai_batch1"]) / variants["eager"]["pipeline_ms_per_slice"],
        rel=0.01,
    )


def test_gpu_segment_benchmark_smoke(smoke_benchmark):
    result = smoke_benchmark("bench_gpu_segment.py", "gpu_segment.json")
    entry = result["models"]["segnet-lite"]
    assert "error" not in entry, entry.get("error")
    assert entry["training"]["crops_per_s_whole_call"] > 0
    runs = entry["segment"]
    assert runs["short"]["summary"]["ok"] and runs["long"]["summary"]["ok"]
    # the same plan on the same device: the segment run's labels are the in-process ones
    assert entry["agreement_with_cpu"]["gpu_bf16_segment_run"] == 1.0
