"""Paired statistics of the inputs study: each recipe against training on whole images, on
the same seeds (and the same test images), with a paired bootstrap CI of the difference, a
Wilcoxon signed-rank p-value, Holm across metrics, and the effect size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from volseg.study._stats import holm

#: Bootstrap draws of a paired difference.
N_BOOT = 10_000


@dataclass(frozen=True)
class Metric:
    """A compared metric: run-level (``column`` of the results) or image-level (``image``:
    the per-image key in ``per_image`` / ``per_image_<test>``, paired by seed and image)."""

    name: str
    column: str
    image: str | None = None
    test: str = ""  #: "" whole test images, else the extra test set's name
    higher_is_better: bool = True


def metrics_for(name: str, *, tests: Sequence[str] = ("",)) -> list[Metric]:
    """Accuracy, IoU and BF1 of class ``name`` on each test set, and the final training
    and validation losses."""
    out = []
    for t in tests:
        pre = f"test_{t}_" if t else "test_"
        where = f" ({t} test)" if t else ""
        out += [
            Metric(f"accuracy{where}", f"{pre}accuracy", "accuracy", t),
            Metric(f"IoU {name}{where}", f"{pre}iou_{name}", f"iou_{name}", t),
            Metric(f"BF1 {name}{where}", f"{pre}bf1_{name}", f"bf1_{name}", t),
        ]
    out += [
        Metric("final train loss", "final_train_loss", higher_is_better=False),
        Metric("final validation loss", "final_val_loss", higher_is_better=False),
    ]
    return out


def _pairs(
    base: dict[int, dict[str, Any]], other: dict[int, dict[str, Any]], metric: Metric
) -> np.ndarray:
    """``(n, 2)`` paired values: per seed (run-level) or per seed x test image."""
    rows = []
    for seed in sorted(set(base) & set(other)):
        a, b = base[seed], other[seed]
        if metric.image is None:
            rows.append((a.get(metric.column), b.get(metric.column)))
            continue
        key = f"per_image_{metric.test}" if metric.test else "per_image"
        for ia, ib in zip(a[key], b[key], strict=True):
            rows.append((ia.get(metric.image), ib.get(metric.image)))
    values = np.array(rows, dtype=float).reshape(-1, 2)
    return values[np.isfinite(values).all(axis=1)]


def paired_comparison(
    records: Sequence[dict[str, Any]],
    metrics: Sequence[Metric],
    *,
    baseline: str = "whole",
    alpha: float = 0.05,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """Every recipe against ``baseline``, per metric: means, the mean paired difference
    (recipe - baseline) with its 95 % paired-bootstrap CI, the Wilcoxon signed-rank
    p-value, Holm-adjusted across the metrics of the recipe, significance at ``alpha`` and
    the effect size (matched-pairs rank-biserial correlation, -1..1)."""
    by_recipe: dict[str, dict[int, dict[str, Any]]] = {}
    for rec in records:
        by_recipe.setdefault(str(rec["recipe"]), {})[int(rec["seed"])] = rec
    rng = np.random.default_rng(seed)
    out = []
    for recipe in by_recipe:
        if recipe == baseline or baseline not in by_recipe:
            continue
        rows = []
        for m in metrics:
            pairs = _pairs(by_recipe[baseline], by_recipe[recipe], m)
            n = len(pairs)
            row: dict[str, Any] = {"recipe": recipe, "metric": m.name, "n_pairs": n}
            if n == 0:
                rows.append(row | {"p": np.nan})
                continue
            d = pairs[:, 1] - pairs[:, 0]
            draws = d[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
            lo, hi = np.percentile(draws, [2.5, 97.5])
            nonzero = d[d != 0]
            if nonzero.size:
                w = stats.wilcoxon(nonzero)
                ranks = stats.rankdata(np.abs(nonzero))
                effect = float((ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum()) / ranks.sum())
                p = float(w.pvalue)
            else:
                p, effect = 1.0, 0.0
            rows.append(
                row
                | {
                    "baseline_mean": float(pairs[:, 0].mean()),
                    "recipe_mean": float(pairs[:, 1].mean()),
                    "diff": float(d.mean()),
                    "diff_ci_low": float(lo),
                    "diff_ci_high": float(hi),
                    "p": p,
                    "effect_size": effect,
                    "higher_is_better": m.higher_is_better,
                }
            )
        frame = pd.DataFrame(rows)
        frame["p_holm"] = holm(frame["p"].fillna(1.0).to_numpy())
        frame["significant"] = frame["p_holm"] < alpha
        out.append(frame)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def paired_answer(table: pd.DataFrame, *, alpha: float, headline: Sequence[str]) -> str:
    """A short answer written from the numbers: per recipe, the headline metrics that differ
    significantly from whole-image training (direction, size, adjusted p) and those that
    do not."""
    if table.empty:
        return "Nothing to compare: whole-image training and at least one other recipe must finish."
    parts = []
    for recipe, frame in table.groupby("recipe", sort=False):
        sig, same = [], []
        for _, r in frame[frame["metric"].isin(headline)].iterrows():
            if r["significant"]:
                better = (r["diff"] > 0) == bool(r["higher_is_better"])
                sig.append(
                    f"{r['metric']} {'better' if better else 'worse'} by {abs(r['diff']):.4f} "
                    f"(95 % CI {r['diff_ci_low']:+.4f}..{r['diff_ci_high']:+.4f}, "
                    f"Holm p = {r['p_holm']:.3g}, effect {r['effect_size']:+.2f})"
                )
            else:
                same.append(f"{r['metric']} (diff {r['diff']:+.4f}, Holm p = {r['p_holm']:.3g})")
        text = f"**{recipe}** vs whole: "
        text += (
            ("significantly different in " + "; ".join(sig)) if sig else "no significant difference"
        )
        if same and sig:
            text += "; not significant: " + ", ".join(same)
        elif same:
            text += " (" + ", ".join(same) + ")"
        parts.append(text + ".")
    return (
        " ".join(parts)
        + f" (Wilcoxon signed-rank on pairs of the same seed and test image, Holm across the "
        f"metrics of each recipe, alpha {alpha}.)"
    )
