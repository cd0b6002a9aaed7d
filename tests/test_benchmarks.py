"""Smoke-sized runs of the benchmarks so they never rot."""

from __future__ import annotations


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
    assert set(t) == {"volseg", "naive", "monai", "monai_fused_channels_last"}
    assert t["volseg"]["volseg_speedup"] == 1.0
    for r in t.values():
        assert r["seconds"] > 0 and r["voxels_per_s"] > 0
        assert 0.9 <= r["label_agreement_in_fov"] <= 1.0
    assert set(result["per_slice"]) == {"segnet-lite"}
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
