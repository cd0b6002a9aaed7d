"""The inputs study's report: learning curves (mean ± band per recipe), a box plot per
metric, overlays, the paired comparison with whole-image training and the answer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from volseg.study._paired import Metric, metrics_for, paired_answer, paired_comparison
from volseg.study._report import html_page, md_table, overlay_figure, results_frame
from volseg.study._stats import case_table
from volseg.viz import save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from volseg.study._execute import StudyResult
    from volseg.study._inputs import InputStudyConfig

RECIPE_TEXT = {
    "whole": "trained on whole images",
    "segmented": "trained on segmented images (region of interest on a uniform background)",
    "finetune": "pretrained on segmented images, then fine-tuned on whole images (frozen part)",
}


def learning_curves(records: Sequence[dict[str, Any]], name: str) -> Figure:
    """Training and validation loss and validation IoU per epoch: mean over seeds with a
    band of ± one standard deviation, one colour per recipe."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    panels = [
        ("train_loss", "training loss"),
        ("val_loss", "validation loss"),
        (f"val_iou_{name}", f"validation IoU ({name})"),
    ]
    recipes: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        recipes.setdefault(str(r["recipe"]), []).append(r)
    colours = plt.get_cmap("tab10")
    for ax, (key, title) in zip(axes, panels, strict=True):
        for k, (recipe, recs) in enumerate(recipes.items()):
            length = min(len(r["history"]) for r in recs)
            if not length:
                continue
            ys = np.array(
                [
                    [np.nan if h.get(key) is None else h[key] for h in r["history"][:length]]
                    for r in recs
                ]
            )
            xs = [h["epoch"] for h in recs[0]["history"][:length]]
            mean, std = np.nanmean(ys, axis=0), np.nanstd(ys, axis=0)
            ax.plot(xs, mean, color=colours(k), lw=1.8, label=recipe)
            ax.fill_between(xs, mean - std, mean + std, color=colours(k), alpha=0.2)
        ax.set_xlabel("epoch")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(title="recipe (mean ± 1 sd)", fontsize=8)
    fig.tight_layout()
    return fig


def box_plots(rows: pd.DataFrame, metrics: Sequence[Metric]) -> Figure:
    """One box plot per metric: the runs of each recipe (one point per seed)."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 4), squeeze=False)
    recipes = list(dict.fromkeys(rows["recipe"]))
    for ax, m in zip(axes[0], metrics, strict=True):
        data = [rows.loc[rows["recipe"] == r, m.column].dropna().to_numpy() for r in recipes]
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(range(1, len(recipes) + 1), recipes, rotation=20)
        for i, values in enumerate(data, start=1):
            ax.plot(np.full(len(values), i), values, "o", ms=3, color="0.3")
        ax.set_title(m.name, fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def write_inputs_report(
    config: InputStudyConfig, result: StudyResult, test_store: Path
) -> tuple[dict[str, Path], str]:
    """Tables, figures and ``report.md``/``report.html`` in ``result.out``; the answer."""
    out, records = result.out, result.records
    recipe = config.recipe_config()
    classes = [k.removeprefix("test_iou_") for k in records[0] if k.startswith("test_iou_")]
    cls = recipe.class_of_interest
    name = classes[cls]
    rows = results_frame(records)
    rows.to_csv(out / "results.csv", index=False)
    rows.to_parquet(out / "results.parquet", index=False)
    files = {"results_csv": out / "results.csv", "results_parquet": out / "results.parquet"}
    metrics = metrics_for(name, tests=("", "segmented"))
    summary = case_table(rows, [m.column for m in metrics], by=("recipe",))
    summary.to_csv(out / "recipes.csv", index=False)
    table = paired_comparison(records, metrics, alpha=config.alpha)
    table.to_csv(out / "comparison.csv", index=False)
    files |= {"recipes": out / "recipes.csv", "comparison": out / "comparison.csv"}
    files["curves"] = save_figure(learning_curves(records, name), out / "curves.png")
    headline = [m for m in metrics if m.image is not None and not m.test] + metrics[-2:]
    files["boxes"] = save_figure(box_plots(rows, headline), out / "boxes.png")
    for r in dict.fromkeys(rows["recipe"]):
        rec = min((x for x in records if x["recipe"] == r), key=lambda x: x["seed"])
        fig = overlay_figure(rec, out, test_store, cls=cls, classes=classes, label=f"{r}")
        files[f"overlay_{r}"] = save_figure(fig, out / f"overlay_{r}.png")
    text = paired_answer(table, alpha=config.alpha, headline=[m.name for m in headline])
    lines = [
        "# Inputs study: training on segmented vs whole images",
        "",
        f"**Answer.** {text}",
        "",
        *(f"- `{r}`: {RECIPE_TEXT[r]}." for r in config.recipes),
        f"- {config.seeds} seeds per recipe, paired by seed (same crops, augmentation and "
        f"initialisation); model {recipe.model}, crops {recipe.crops} x "
        f"{recipe.crop_size or 'whole'} px, {recipe.epochs} epochs, batch {recipe.batch_size}.",
        f"- Segmented: region {config.segmented.region} (dilated {config.segmented.dilate} px)"
        f", fill {config.segmented.fill}; fine-tuning freezes {config.freeze}.",
        f"- Scored on the whole test images ({config.test.source}) and on their segmented "
        "copy (what a segmented-trained model needs at inference), by `volseg segment` + "
        "`volseg evaluate`.",
        "",
        "## Learning curves",
        "",
        "![curves](curves.png)",
        "",
        "## Metrics per recipe",
        "",
        "![boxes](boxes.png)",
        "",
        md_table(summary),
        "",
        "## Paired comparison with whole-image training",
        "",
        md_table(table),
        "",
        "## Overlays (true positive white, true negative black, false negative pink, "
        "false positive green)",
        "",
        *(f"![{r}](overlay_{r}.png)\n" for r in dict.fromkeys(rows["recipe"])),
    ]
    md = "\n".join(lines)
    (out / "report.md").write_text(md)
    (out / "report.html").write_text(html_page(md, [summary, table, rows], "Inputs study"))
    files |= {"report": out / "report.md", "html": out / "report.html"}
    return files, text
