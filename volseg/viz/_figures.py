"""The side-by-side comparison figure: raw | ground truth | prediction | error overlay."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: volseg never opens windows
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from volseg.io._layout import PALETTE
from volseg.viz._overlay import (
    MAX_DISPLAY_SIDE,
    OVERLAY_COLOURS,
    display_factor,
    overlay,
    reduce_image,
    reduce_labels,
)


def _label_rgb(labels: np.ndarray) -> np.ndarray:
    palette = np.array([c[:3] for c in PALETTE], np.uint8)
    palette[0] = (0, 0, 0)
    return palette[np.asarray(labels) % len(palette)]


def comparison_figure(
    raw: np.ndarray | None,
    gt: np.ndarray,
    pred: np.ndarray,
    *,
    cls: int | None = None,
    classes: Sequence[str] | None = None,
    title: str | None = None,
    max_side: int = MAX_DISPLAY_SIDE,
) -> Figure:
    """raw | ground truth | prediction | overlay, reduced for display when large.

    Images are block-averaged and label maps block-majority-reduced by one integer factor so
    a 2300 x 1920 slice stays readable and small; ``raw=None`` leaves the first panel out.
    """
    f = display_factor(np.shape(gt), max_side)
    panels: list[tuple[str, np.ndarray, str | None]] = []
    if raw is not None:
        panels.append(("raw", reduce_image(raw, f), "gray"))
    panels.append(("ground truth", _label_rgb(reduce_labels(np.asarray(gt), f)), None))
    panels.append(("prediction", _label_rgb(reduce_labels(np.asarray(pred), f)), None))
    name = classes[cls] if classes is not None and cls is not None else "foreground"
    panels.append((f"overlay ({name})", overlay(pred, gt, cls=cls, max_side=max_side), None))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 5.6), squeeze=False)
    for ax, (label, img, cmap) in zip(axes[0], panels, strict=True):
        ax.imshow(img, cmap=cmap, interpolation="nearest")
        ax.set_title(label, fontsize=10)
        ax.axis("off")
    handles = [
        Patch(facecolor="#{:02x}{:02x}{:02x}".format(*c), edgecolor="0.5", label=k)
        for k, c in OVERLAY_COLOURS.items()
    ]
    fig.legend(handles=handles, loc="lower center", ncol=4, frameon=False, fontsize=9)
    if title:
        fig.suptitle(title + (f"  (shown at 1/{f})" if f > 1 else ""), fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    return fig


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 100) -> Path:
    """Save and close a figure (parents created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
