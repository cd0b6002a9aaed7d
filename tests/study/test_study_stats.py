"""The crop study's statistics: CIs over seeds, Holm, and the paired bootstrap against the
best case, on hand-made records whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from volseg.study._stats import answer, case_table, compare_to_best, holm


def test_holm_matches_the_step_down_definition():
    # sorted p 0.01, 0.02, 0.04 with m = 3: 0.03, max(0.03, 0.04), max(0.04, 0.04)
    assert holm([0.04, 0.01, 0.02]).tolist() == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.9]).tolist() == [1.0, 1.0]
    assert holm([]).size == 0


def test_case_table_gives_mean_std_and_the_student_t_interval():
    rows = pd.DataFrame(
        {
            "case": ["a"] * 3 + ["b"],
            "size": ["64"] * 3 + ["96"],
            "count": [4] * 3 + [4],
            "iou": [0.5, 0.6, 0.7, 0.9],
        }
    )
    table = case_table(rows, ["iou"]).set_index("case")
    lo, hi = stats.t.interval(0.95, 2, loc=0.6, scale=stats.sem([0.5, 0.6, 0.7]))
    assert table.loc["a", "n"] == 3
    assert table.loc["a", "iou_mean"] == pytest.approx(0.6)
    assert table.loc["a", "iou_std"] == pytest.approx(0.1)
    assert (table.loc["a", "iou_ci_low"], table.loc["a", "iou_ci_high"]) == pytest.approx((lo, hi))
    assert table.loc["b", "iou_mean"] == 0.9 and np.isnan(table.loc["b", "iou_ci_low"])


def _record(case: str, seed: int, tps: list[int], rng: np.random.Generator) -> dict:
    """A run scoring ``tp`` of 100 foreground pixels on each test image (10 false positives)."""
    per_image = []
    for z, tp in enumerate(tps):
        cm = [[900, 100 - tp], [10, tp]]  # rows prediction, columns truth
        per_image.append({"z": z, "confusion": cm, "bf1_fg": tp / 100 + rng.normal(0, 0.01)})
    return {"case": case, "seed": seed, "per_image": per_image}


def test_a_clearly_better_case_is_significant_and_a_tie_is_not():
    rng = np.random.default_rng(0)
    base = [60, 70, 65, 75, 62, 68, 71, 66, 64, 69]
    records = []
    for seed in range(3):
        noise = rng.integers(-2, 3, size=10)
        good = [int(b + 20 + n) for b, n in zip(base, noise, strict=True)]
        tied = [int(b + 20 - n) for b, n in zip(base, noise, strict=True)]
        poor = [int(b + n) for b, n in zip(base, noise, strict=True)]
        records.append(_record("224 x 1000", seed, good, rng))
        records.append(_record("224 x 500", seed, tied, rng))
        records.append(_record("100 x 250", seed, poor, rng))
    comp = compare_to_best(records, metric="iou", cls=1, name="fg", n_boot=2000)
    assert comp.best in {"224 x 1000", "224 x 500"}
    table = comp.table.set_index("case")
    assert bool(table.loc["100 x 250", "different"]) is True
    assert table.loc["100 x 250", "p_holm"] < 0.01
    other = ({"224 x 1000", "224 x 500"} - {comp.best}).pop()
    assert bool(table.loc[other, "different"]) is False
    assert "paired bootstrap (2000 draws) over the 10 test images" in comp.test
    text = answer(comp)
    assert text.startswith("Is 224 x 1000 best? ")
    assert f"not significantly different from {comp.best}: {other}" in text
    bf1 = compare_to_best(records, metric="bf1", cls=1, name="fg", n_boot=2000)
    assert bool(bf1.table.set_index("case").loc["100 x 250", "different"]) is True


def test_the_answer_says_when_224_x_1000_is_not_in_the_grid():
    rng = np.random.default_rng(1)
    records = [_record("64 x 4", s, [50] * 4, rng) for s in range(2)]
    records += [_record("96 x 4", s, [80] * 4, rng) for s in range(2)]
    comp = compare_to_best(records, metric="iou", cls=1, name="fg", n_boot=500)
    assert comp.best == "96 x 4"
    assert answer(comp).startswith(
        "Is 224 x 1000 best? not tested: 224 x 1000 is not in this grid; the best case is 96 x 4"
    )
