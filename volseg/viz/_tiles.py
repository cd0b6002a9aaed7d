"""The tile study plot: throughput against label disagreement, one marker per setting."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

_MARKERS = {"gaussian": "o", "uniform": "s", "crop-centre": "^"}


def plot_tile_study(
    rows: Sequence[Mapping[str, Any]], *, tolerance: float, title: str | None = None
) -> Figure:
    """Voxels/s against the fraction of labels that differ from a single pass.

    One marker per setting: the shape is the blending window, the colour the tile size, the
    single pass a star; the chosen setting (``chosen`` true) is ringed and named. The x
    axis is symmetric-log in % of labels (0 — no difference — stays on it); a dashed line
    marks ``tolerance``.
    """
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    tiles = sorted({int(r["tile"]) for r in rows if not r.get("reference")})
    cmap = plt.get_cmap("viridis", max(len(tiles), 2))
    colour = {t: cmap(i) for i, t in enumerate(tiles)}
    seen: set[str] = set()
    c: Any
    for r in rows:
        x, y = 100 * float(r["disagreement"]), float(r["voxels_per_s"]) / 1e6
        if r.get("reference"):
            label, marker, size, c = "single pass", "*", 160, "black"
        else:
            label = f"tile {r['tile']}, {r['window']}"
            marker, size = _MARKERS.get(str(r["window"]), "o"), 50
            c = colour[int(r["tile"])]
        ax.scatter(
            x,
            y,
            marker=marker,
            s=size,
            color=c,
            label=None if label in seen else label,
            alpha=0.85,
        )
        seen.add(label)
        if r.get("chosen"):
            ax.scatter(x, y, s=420, facecolors="none", edgecolors="red", linewidths=2)
            ax.annotate(
                f"chosen: {r['setting']}",
                (x, y),
                xytext=(10, -14),
                textcoords="offset points",
                color="red",
                fontsize=9,
            )
    ax.axvline(100 * tolerance, color="0.4", linestyle="--", linewidth=1)
    ax.text(100 * tolerance, 0.02, " tolerance", transform=ax.get_xaxis_transform(), fontsize=8)
    ax.set_xscale("symlog", linthresh=1e-3)
    right = max([100 * float(r["disagreement"]) for r in rows] + [100 * tolerance])
    ax.set_xlim(-1e-4, 3 * right)
    top = max(float(r["voxels_per_s"]) for r in rows) / 1e6
    ax.set_ylim(0, 1.15 * top)
    ax.set_xlabel("labels that differ from a single pass (%)")
    ax.set_ylabel("Mvoxel/s")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
