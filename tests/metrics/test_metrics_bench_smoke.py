"""Smoke-sized run of benchmarks/bench_metrics.py so it never rots."""

from __future__ import annotations

import math

import pytest


def test_metrics_benchmark_smoke(smoke_benchmark, tmp_path):
    result = smoke_benchmark("bench_metrics.py", "metrics.json")
    assert result["benchmark"] == "metrics"
    assert result["shape"] == [230, 192]
    assert {"cpus", "numba_threads", "cpu", "python", "numba"} <= set(result["machine"])
    cases = {c["case"]: c for c in result["cases"]}
    assert set(cases) == {
        "bf1 tolerance 2",
        "bf1 tolerance 5",
        "boundary",
        "confusion_matrix (uint8, 2 classes)",
    }
    for c in cases.values():
        assert c["numba_ms"] > 0 and c["reference_ms"] > 0
        assert c["speedup"] == round(c["reference_ms"] / c["numba_ms"], 1)
        assert c["counts_equal"] is True
    bf = cases["bf1 tolerance 2"]
    assert 0 < bf["score"] < 1 and bf["score"] == bf["reference_score"]
    assert math.isclose(
        bf["score"],
        2
        * bf["counts"]["matched_pred"]
        * bf["counts"]["matched_gt"]
        / (
            bf["counts"]["matched_pred"] * bf["counts"]["n_gt"]
            + bf["counts"]["matched_gt"] * bf["counts"]["n_pred"]
        ),
    )
    assert "| bf1 tolerance 2 |" in (tmp_path / "metrics.md").read_text()
    vol = result["volume_evaluation"]
    assert vol["shape"] == [3, 230, 192] and vol["slices_per_s"] > 0
    assert vol["slices_per_s"] == pytest.approx(3 / vol["seconds"], rel=0.05)
