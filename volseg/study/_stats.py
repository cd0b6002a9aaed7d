"""Statistics of a crop study: per case mean, std and 95 % CI over seeds, and which cases
are not significantly different from the best (paired bootstrap, Holm-corrected)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

#: Bootstrap draws of the comparison with the best case.
N_BOOT = 10_000


def case_table(
    rows: pd.DataFrame,
    metrics: Sequence[str],
    *,
    by: Sequence[str] = ("size", "count"),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """One row per case (the groups of ``by``): ``n`` seeds and, per metric, mean, std
    (ddof 1) and the two-sided Student-t ``confidence`` interval of the mean (NaN bounds
    with one seed)."""
    out = []
    for values, group in rows.groupby(list(by), sort=False):
        keys = values if isinstance(values, tuple) else (values,)
        rec: dict[str, Any] = {"case": group["case"].iloc[0], **dict(zip(by, keys, strict=True))}
        rec["n"] = len(group)
        for m in metrics:
            v = group[m].astype(float).dropna().to_numpy()
            mean = float(v.mean()) if v.size else float("nan")
            std = float(v.std(ddof=1)) if v.size > 1 else float("nan")
            half = (
                float(stats.t.ppf(0.5 + confidence / 2, v.size - 1) * std / np.sqrt(v.size))
                if v.size > 1
                else float("nan")
            )
            rec |= {f"{m}_mean": mean, f"{m}_std": std}
            rec |= {f"{m}_ci_low": mean - half, f"{m}_ci_high": mean + half}
        out.append(rec)
    return pd.DataFrame(out)


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment of p-values (family-wise error rate)."""
    values = np.asarray(p, float)
    order = np.argsort(values)
    m = len(values)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * values[i]))
        adjusted[i] = running
    return adjusted


def _nanmean(values: np.ndarray, axis: int | None = None) -> Any:
    """Mean ignoring NaN; NaN (without a warning) where every value is NaN."""
    ok = np.isfinite(values)
    total = np.where(ok, values, 0.0).sum(axis=axis)
    n = ok.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
    return float(mean) if axis is None else mean


def _iou_parts(record: dict[str, Any], cls: int) -> np.ndarray:
    """Per test image (tp, fp, fn) of class ``cls`` from its confusion matrix
    (rows prediction, columns ground truth, as volseg.metrics)."""
    parts = []
    for im in record["per_image"]:
        cm = np.asarray(im["confusion"], np.float64)
        tp = cm[cls, cls]
        parts.append((tp, cm[cls].sum() - tp, cm[:, cls].sum() - tp))
    return np.array(parts)


def _per_image(record: dict[str, Any], key: str) -> np.ndarray:
    return np.array([np.nan if im.get(key) is None else im[key] for im in record["per_image"]])


@dataclass(frozen=True)
class Comparison:
    """Each case against the best one on ``metric`` (``iou`` or ``bf1`` of class ``name``)."""

    metric: str
    best: str
    table: pd.DataFrame  #: case, mean, diff (best - case), p, p_holm, different
    alpha: float
    test: str


def compare_to_best(
    records: Sequence[dict[str, Any]],
    *,
    metric: str,
    cls: int,
    name: str,
    alpha: float = 0.05,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> Comparison:
    """Which cases differ significantly from the best on the test images.

    The statistic of a case is the mean over its seeds of the pooled IoU (confusion summed
    over the test images, as ``volseg evaluate`` scores) or of the mean per-image BF1. The
    bootstrap resamples the test images (the same draw for every case: paired) and, within
    each case, its seeds; the two-sided p-value of best - case is twice the smaller tail
    share of bootstrap differences on either side of 0, adjusted with Holm over the cases.
    """
    cases: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        cases.setdefault(rec["case"], []).append(rec)
    names = list(cases)
    m = len(records[0]["per_image"])
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(m, np.full(m, 1.0 / m), size=n_boot).astype(np.float64)

    def draws(recs: list[dict[str, Any]]) -> tuple[float, np.ndarray]:
        if metric == "iou":
            per_seed = []
            point = []
            for r in recs:
                parts = _iou_parts(r, cls)  # (m, 3)
                s = weights @ parts  # (B, 3)
                den = s.sum(axis=1)
                per_seed.append(np.where(den > 0, s[:, 0] / np.where(den > 0, den, 1), np.nan))
                tot = parts.sum(axis=0)
                point.append(tot[0] / tot.sum() if tot.sum() else np.nan)
        else:
            per_seed, point = [], []
            for r in recs:
                v = _per_image(r, f"bf1_{name}")
                ok = np.isfinite(v)
                w = weights * ok
                den = w.sum(axis=1)
                num = weights @ np.where(ok, v, 0.0)
                per_seed.append(np.where(den > 0, num / np.where(den > 0, den, 1), np.nan))
                point.append(_nanmean(v))
        seeds = np.stack(per_seed, axis=1)  # (B, R)
        pick = rng.integers(0, seeds.shape[1], size=seeds.shape)
        return _nanmean(np.array(point)), _nanmean(np.take_along_axis(seeds, pick, 1), axis=1)

    results = {n: draws(cases[n]) for n in names}
    best = max(names, key=lambda n: (np.nan_to_num(results[n][0], nan=-np.inf), n))
    rows = []
    for n in names:
        if n == best:
            continue
        diff = results[best][1] - results[n][1]
        diff = diff[np.isfinite(diff)]
        lower = (np.sum(diff <= 0) + 1) / (diff.size + 1)
        upper = (np.sum(diff >= 0) + 1) / (diff.size + 1)
        rows.append(
            {
                "case": n,
                "mean": results[n][0],
                "diff": results[best][0] - results[n][0],
                "p": min(1.0, 2 * min(lower, upper)),
            }
        )
    table = pd.DataFrame(rows, columns=["case", "mean", "diff", "p"])
    table["p_holm"] = holm(table["p"].to_numpy()) if len(table) else []
    table["different"] = table["p_holm"] < alpha
    test = (
        f"paired bootstrap ({n_boot} draws) over the {m} test images, seeds resampled "
        f"within each case; two-sided, Holm-corrected over {len(table)} comparisons, "
        f"alpha {alpha}"
    )
    return Comparison(metric=f"{metric}_{name}", best=best, table=table, alpha=alpha, test=test)


def answer(comparison: Comparison, *, asked: str = "224 x 1000") -> str:
    """The plain-words answer to "is ``asked`` best?" on the data given."""
    best, t = comparison.best, comparison.table
    if asked == best:
        verdict = f"yes: {asked} has the highest mean test {comparison.metric}"
    elif asked in set(t["case"]):
        row = t[t["case"] == asked].iloc[0]
        if row["different"]:
            verdict = (
                f"no: {best} is best and {asked} is significantly worse "
                f"(by {row['diff']:.4f}, Holm-adjusted p = {row['p_holm']:.3g})"
            )
        else:
            verdict = (
                f"not distinguishable: {best} has the highest mean, but {asked} is not "
                f"significantly worse (by {row['diff']:.4f}, Holm-adjusted p = "
                f"{row['p_holm']:.3g})"
            )
    else:
        verdict = f"not tested: {asked} is not in this grid; the best case is {best}"
    tied = [str(c) for c in t.loc[~t["different"], "case"]]
    tie_text = (
        f"; not significantly different from {best}: {', '.join(tied)}"
        if tied
        else f"; every other case is significantly worse than {best}"
    )
    return f"Is {asked} best? {verdict}{tie_text} ({comparison.test})."
