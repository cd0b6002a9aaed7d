"""The crop study's report: results tables, heatmaps with CIs, validation curves, overlays
of the best and the worst case, the significance table and the answer, in Markdown + HTML."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from volseg.evaluate import open_label_volume
from volseg.study._config import StudyConfig
from volseg.study._stats import Comparison, answer, case_table, compare_to_best
from volseg.study._task import TEST_OUTPUT
from volseg.train import DataConfig
from volseg.viz import comparison_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from volseg.study._execute import StudyResult

#: What the report calls each budget policy.
POLICY_TEXT = {
    "epochs": "equal epochs (the original protocol: more crops means more optimizer steps)",
    "steps": "equal optimizer steps",
    "pixels": "equal training pixels seen",
}


def results_frame(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per (case, seed): the records without per-image scores and history."""
    return pd.DataFrame(
        [
            {k: v for k, v in r.items() if k != "history" and not k.startswith("per_image")}
            for r in records
        ]
    )


def _grid(
    cases: pd.DataFrame, metric: str, sizes: list[str], counts: list[int]
) -> tuple[np.ndarray, list[list[str]]]:
    values = np.full((len(sizes), len(counts)), np.nan)
    text = [["" for _ in counts] for _ in sizes]
    for _, row in cases.iterrows():
        i, j = sizes.index(str(row["size"])), counts.index(int(row["count"]))
        mean, lo, hi = row[f"{metric}_mean"], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"]
        values[i, j] = mean
        # every heatmap metric lies in [0, 1]: the interval is shown clipped to it
        ci = f"[{max(lo, 0.0):.3f}, {min(hi, 1.0):.3f}]" if np.isfinite(lo) else "(1 seed)"
        text[i][j] = f"{mean:.3f}\n{ci}"
    return values, text


def heatmaps(
    cases: pd.DataFrame, metrics: dict[str, str], sizes: list[str], counts: list[int]
) -> Figure:
    """One heatmap per metric: crop size (rows) x crop count (columns), the mean over seeds
    in each cell with its 95 % CI beneath (clipped to [0, 1]; "(1 seed)" when only one
    seed has a value)."""
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(4.2 * len(metrics) + 0.6, 0.9 * len(sizes) + 1.8)
    )
    for ax, (metric, title) in zip(np.atleast_1d(axes), metrics.items(), strict=True):
        values, text = _grid(cases, metric, sizes, counts)
        image = ax.imshow(values, cmap="viridis", aspect="auto")
        fig.colorbar(image, ax=ax, fraction=0.046)
        finite = values[np.isfinite(values)]
        middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        for i in range(len(sizes)):
            for j in range(len(counts)):
                colour = "black" if np.nan_to_num(values[i, j]) > middle else "white"
                ax.text(j, i, text[i][j], ha="center", va="center", fontsize=8, color=colour)
        ax.set_xticks(range(len(counts)), [str(c) for c in counts])
        ax.set_yticks(range(len(sizes)), sizes)
        ax.set_xlabel("crop count")
        ax.set_ylabel("crop size (px)")
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def curves(records: Sequence[dict[str, Any]], metric: str, title: str) -> Figure:
    """Validation ``metric`` against training pixels seen, one line per case (mean over
    seeds; each seed's points faint)."""
    fig, ax = plt.subplots(figsize=(8, 5))
    cases: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        cases.setdefault(r["case"], []).append(r)
    colours = plt.get_cmap("tab20")
    for k, (name, recs) in enumerate(cases.items()):
        colour = colours(k % 20)
        series = []
        for r in recs:
            per_step = r["pixels_seen"] / max(r["steps"], 1)
            xs = [h["step"] * per_step / 1e6 for h in r["history"] if h.get(metric) is not None]
            ys = [h[metric] for h in r["history"] if h.get(metric) is not None]
            ax.plot(xs, ys, color=colour, alpha=0.25, lw=0.8)
            series.append((xs, ys))
        length = min(len(s[1]) for s in series)
        if length:
            xs = series[0][0][:length]
            ys = np.mean([s[1][:length] for s in series], axis=0)
            ax.plot(xs, ys, color=colour, lw=1.8, marker="o", ms=3, label=name)
    ax.set_xlabel("training pixels seen (millions)")
    ax.set_ylabel(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, title="crop size x count")
    fig.tight_layout()
    return fig


def overlay_figure(
    record: dict[str, Any], out: Path, test_store: Path, *, cls: int, classes: list[str], label: str
) -> Figure:
    """raw | truth | prediction | overlay of the test image with the most ground truth
    of class ``cls``, from the run's segmentation of the test images."""
    pred = open_label_volume(out / "runs" / record["run"] / TEST_OUTPUT, role="pred")
    gt = open_label_volume(test_store, labels="ground_truth", role="gt")
    zs = [im["z"] for im in record["per_image"]]
    amount = [np.asarray(im["confusion"])[:, cls].sum() for im in record["per_image"]]
    z = zs[int(np.argmax(amount))]
    raw = np.asarray(gt.image[z]) if gt.image is not None else None
    name = classes[cls]
    iou = record.get(f"test_iou_{name}")
    return comparison_figure(
        raw,
        np.asarray(gt.data[z]),
        np.asarray(pred.data[z]),
        cls=cls,
        classes=classes,
        title=f"{label}: {record['case']} seed {record['seed']}, test image {z} "
        f"(run IoU {name} {iou:.3f})",
    )


def md_table(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        cells = [f"{v:.4f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_study_report(
    config: StudyConfig, result: StudyResult, test_store: Path
) -> tuple[dict[str, Path], str]:
    """Write the tables, figures and ``report.md``/``report.html`` into ``result.out``;
    return the files and the answer to "is 224 x 1000 best?"."""
    out = result.out
    records = result.records
    recipe = config.recipe_config()
    classes = [k.removeprefix("test_iou_") for k in records[0] if k.startswith("test_iou_")]
    cls = recipe.class_of_interest
    name = classes[cls]
    files: dict[str, Path] = {}
    rows = results_frame(records)
    rows.to_csv(out / "results.csv", index=False)
    rows.to_parquet(out / "results.parquet", index=False)
    files |= {"results_csv": out / "results.csv", "results_parquet": out / "results.parquet"}
    metrics = {
        f"test_iou_{name}": f"test IoU ({name})",
        f"test_bf1_{name}": f"test BF1 ({name}, {recipe.bf1_tolerance:g} px)",
        "test_accuracy": "test accuracy",
    }
    extra = ["seconds_per_image", "train_seconds", f"best_val_iou_{name}", f"final_val_iou_{name}"]
    cases = case_table(rows, [*metrics, *extra])
    cases.to_csv(out / "cases.csv", index=False)
    files["cases"] = out / "cases.csv"
    sizes = [str(s) for s in config.sizes if str(s) in set(rows["size"])]
    counts = [c for c in config.counts if c in set(rows["count"])]
    files["heatmaps"] = save_figure(heatmaps(cases, metrics, sizes, counts), out / "heatmaps.png")
    files["curves"] = save_figure(
        curves(records, f"val_iou_{name}", f"validation IoU ({name})"), out / "curves.png"
    )
    comparisons: list[Comparison] = []
    if len(cases) > 1:
        for metric in ("iou", "bf1"):
            comparisons.append(
                compare_to_best(records, metric=metric, cls=cls, name=name, alpha=config.alpha)
            )
        comparisons[0].table.to_csv(out / "comparison.csv", index=False)
        files["comparison"] = out / "comparison.csv"
    ranked = cases.sort_values(f"test_iou_{name}_mean", ascending=False)
    best_case, worst_case = ranked["case"].iloc[0], ranked["case"].iloc[-1]
    for label, case in (("best", best_case), ("worst", worst_case)):
        rec = min((r for r in records if r["case"] == case), key=lambda r: r["seed"])
        fig = overlay_figure(rec, out, test_store, cls=cls, classes=classes, label=f"{label} case")
        files[f"overlay_{label}"] = save_figure(fig, out / f"overlay_{label}.png")
    text = (
        answer(comparisons[0])
        if comparisons
        else f"Is 224 x 1000 best? Only one case ({best_case}) was run: nothing to compare."
    )
    md = _markdown(config, rows, cases, comparisons, text, name, best_case, worst_case)
    (out / "report.md").write_text(md)
    tables = [cases, *(c.table for c in comparisons), rows]
    (out / "report.html").write_text(html_page(md, tables, "Crop study"))
    files |= {"report": out / "report.md", "html": out / "report.html"}
    return files, text


def _data_text(data: DataConfig) -> str:
    if data.slices is None:
        return data.source
    return f"{data.source} (images {', '.join(map(str, data.slices))})"


def _markdown(
    config: StudyConfig,
    rows: pd.DataFrame,
    cases: pd.DataFrame,
    comparisons: list[Comparison],
    text: str,
    name: str,
    best: str,
    worst: str,
) -> str:
    recipe = config.recipe_config()
    budget = {"epochs": config.epochs, "steps": config.steps, "pixels": config.pixels}[
        config.budget
    ]
    show = ["case", "n"] + [
        f"{m}_{s}"
        for m in (f"test_iou_{name}", f"test_bf1_{name}", "test_accuracy", "seconds_per_image")
        for s in ("mean", "ci_low", "ci_high")
    ]
    lines = [
        "# Crop study: training crop size x crop count",
        "",
        f"**Answer.** {text}",
        "",
        f"- Budget policy: **{config.budget}** = {POLICY_TEXT[config.budget]} "
        f"({config.budget}: {budget} per run).",
        f"- Grid: sizes {', '.join(map(str, config.sizes))} x counts "
        f"{', '.join(map(str, config.counts))} x {config.seeds} seeds = {len(rows)} runs "
        f"finished; model {recipe.model}, batch {recipe.batch_size}, lr {recipe.lr:g}, "
        f"class weights {recipe.class_weights}.",
        f"- Data: train {_data_text(config.train)}, validation "
        f"{_data_text(config.validation) if config.validation else '(none)'} (model selection: "
        f"best validation IoU of {name}), test {config.test.source} (held out; scored by "
        f"`volseg segment` + `volseg evaluate`, BF1 at {recipe.bf1_tolerance:g} px).",
        f"- Best case: **{best}**; worst: **{worst}** (mean test IoU of {name}).",
        "",
        "## Heatmaps (mean over seeds, 95 % CI beneath)",
        "",
        "![heatmaps](heatmaps.png)",
        "",
        "## Per case",
        "",
        md_table(cases[[c for c in show if c in cases.columns]]),
        "",
    ]
    for comp in comparisons:
        lines += [
            f"## Against the best case on {comp.metric} (best: {comp.best})",
            "",
            comp.test + ".",
            "",
            md_table(comp.table),
            "",
        ]
    lines += [
        "## Validation curves",
        "",
        "![curves](curves.png)",
        "",
        "## Overlays (true positive white, true negative black, false negative pink, "
        "false positive green)",
        "",
        "![best](overlay_best.png)",
        "",
        "![worst](overlay_worst.png)",
        "",
        "## Every run",
        "",
        "`results.csv` / `results.parquet` hold one row per (case, seed).",
        "",
    ]
    return "\n".join(lines)


def html_page(md: str, tables: Sequence[pd.DataFrame], title: str) -> str:
    """A self-contained page: the Markdown's headings, paragraphs and images, then
    ``tables`` (the Markdown's own tables are left to them)."""
    body = []
    for block in md.split("\n\n"):
        block = block.strip()
        if block.startswith("# "):
            body.append(f"<h1>{html.escape(block[2:])}</h1>")
        elif block.startswith("## "):
            body.append(f"<h2>{html.escape(block[3:])}</h2>")
        elif block.startswith("!["):
            src = block[block.index("(") + 1 : block.rindex(")")]
            body.append(f'<img src="{html.escape(src)}" style="max-width:100%">')
        elif block.startswith("|"):
            continue
        elif block:
            body.append(f"<p>{html.escape(block).replace(chr(10), '<br>')}</p>")
    body.append("<h2>Tables</h2>")
    body += [t.to_html(index=False, float_format="%.4g") for t in tables]
    return f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>" + "".join(body)
