"""Smoke-sized run of benchmarks/bench_train.py so it never rots."""

from __future__ import annotations

import statistics

import pytest
import torch


def test_train_benchmark_smoke(smoke_benchmark, tmp_path):
    result = smoke_benchmark("bench_train.py", "train_cpu.json")
    assert result["benchmark"] == "train" and result["device"] == "cpu"
    assert {"cpus", "cpu", "python", "torch", "threads"} <= set(result["machine"])
    assert result["machine"]["threads"] == result["machine"]["cpus"]
    cases = {c["model"]: c for c in result["cases"]}
    assert set(cases) == {"segnet-lite", "segnet"}
    assert cases["segnet"]["parameters"] == 29_443_010
    assert cases["segnet-lite"]["parameters"] == 1_844_978
    for c in cases.values():
        assert (c["crop"], c["batch_size"], c["timed_steps"]) == (64, 2, 2)
        assert len(c["step_seconds"]) == 2 and c["losses_finite"] is True
        assert c["median_step_s"] == pytest.approx(statistics.median(c["step_seconds"]), abs=2e-4)
        # crops/s comes from the unrounded median, which is within 5e-5 s of the stored one
        m = c["median_step_s"]
        assert 2 / (m + 5e-5) - 0.005 <= c["crops_per_s"] <= 2 / max(m - 5e-5, 1e-9) + 0.005
    assert "| segnet-lite | 1,844,978 | 2 | 64 |" in (tmp_path / "train_cpu.md").read_text()
    assert (tmp_path / "train_cuda.json").exists() == torch.cuda.is_available()
