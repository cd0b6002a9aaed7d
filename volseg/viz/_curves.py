"""Training curves against epoch: loss, accuracy, per-class IoU and BF1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def plot_training_curves(rows: Sequence[dict[str, Any]], classes: Sequence[str]) -> Figure:
    """Four panels: train/validation loss, train/validation accuracy, validation IoU and
    validation BF1 of every class, each against epoch (validation panels stay empty
    when a run has no validation set)."""
    epochs = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2))

    def series(ax: Any, key: str, label: str, **kw: Any) -> None:
        ys = [r.get(key) for r in rows]
        if any(y is not None for y in ys):
            ax.plot(
                epochs,
                [float("nan") if y is None else y for y in ys],
                label=label,
                marker="o",
                ms=3,
                **kw,
            )

    series(axes[0], "train_loss", "train")
    series(axes[0], "val_loss", "validation")
    series(axes[1], "train_accuracy", "train")
    series(axes[1], "val_accuracy", "validation")
    for c in classes:
        series(axes[2], f"val_iou_{c}", c)
        series(axes[3], f"val_bf1_{c}", c)
    titles = [
        "loss (weighted cross-entropy)",
        "pixel accuracy",
        "validation IoU",
        "validation BF1 (2 px)",
    ]
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    for ax in axes[1:]:
        ax.set_ylim(0, 1.02)
    fig.tight_layout()
    return fig
