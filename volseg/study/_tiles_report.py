"""The tile study's result and its files: ``tiles.json``, ``tiles.csv``, ``tiles.md`` and
``tiles.png``."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from volseg._files import write_atomically
from volseg._options import SkipPolicy
from volseg.runtime._summary import format_rate
from volseg.tiling import Device

__all__ = ["TileStudy", "tile_table", "write_tile_study"]

#: Tiles whose input is one constant value are skipped, as ``volseg segment`` does by default.
SKIP: SkipPolicy = "empty"


@dataclass
class TileStudy:
    """The result of :func:`study_tiles`: one row per setting (the single pass first) and the
    choice. ``rows[i]`` holds ``setting``, ``reference``, ``tile``, ``overlap``,
    ``window``, ``context``, ``batch_size``, ``tiles`` (forward tiles run), ``voxels``,
    ``seconds`` (best timed run), ``voxels_per_s``, ``disagreement``,
    ``within_tolerance``, ``chosen`` and, with ground truth, ``iou_<class>`` and
    ``bf1_<class>`` of every class."""

    model: str
    sha256: str
    volume: str
    shape: tuple[int, int, int]
    slices: list[int]
    device: Device
    device_name: str
    classes: list[str]
    class_of_interest: int
    rows: list[dict[str, Any]]
    chosen: int
    tolerance: float
    iou_tolerance: float | None
    truth: str | None
    repeats: int
    torch_threads: int
    created: str
    rule: str
    out: Path | None = None
    cache: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def choice(self) -> dict[str, Any]:
        return self.rows[self.chosen]

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": "tiles",
            "created": self.created,
            "model": self.model,
            "weights_sha256": self.sha256,
            "volume": self.volume,
            "shape": list(self.shape),
            "slices": self.slices,
            "device": self.device,
            "device_name": self.device_name,
            "torch_threads": self.torch_threads,
            "repeats": self.repeats,
            "skip": SKIP,
            "classes": self.classes,
            "class_of_interest": self.class_of_interest,
            "truth": self.truth,
            "tolerance": self.tolerance,
            "iou_tolerance": self.iou_tolerance,
            "rule": self.rule,
            "chosen": self.choice,
            "cache": str(self.cache) if self.cache else None,
            "rows": self.rows,
        }


_COLUMNS = [
    "setting",
    "reference",
    "tile",
    "overlap",
    "window",
    "context",
    "batch_size",
    "tiles",
    "voxels",
    "seconds",
    "voxels_per_s",
    "disagreement",
    "within_tolerance",
    "chosen",
]


def _score_columns(study: TileStudy) -> list[str]:
    if study.truth is None:
        return []
    return [f"{m}_{c}" for m in ("iou", "bf1") for c in study.classes]


def tile_table(study: TileStudy) -> str:
    """Markdown: the settings fastest first (so the chosen one is the first within
    tolerance), then the choice and the rule in words."""
    name = study.classes[study.class_of_interest]
    scored = study.truth is not None
    head = ["setting", "tile", "overlap", "window", "context", "batch", "tiles", "throughput"]
    head += ["differs from single pass"]
    if scored:
        head += [f"IoU {name}", f"BF1 {name}"]
    head += ["within tolerance", ""]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 4 + "---:|" * (len(head) - 4)]
    for r in sorted(study.rows, key=lambda r: -r["voxels_per_s"]):
        cells = [
            str(r["setting"]),
            str(r["tile"]),
            str(r["overlap"]),
            str(r["window"]),
            str(r["context"]),
            str(r["batch_size"]),
            str(r["tiles"]),
            format_rate(r["voxels_per_s"]),
            f"{100 * r['disagreement']:.4f} %",
        ]
        if scored:
            cells += [f"{r[f'iou_{name}']:.4f}", f"{r[f'bf1_{name}']:.4f}"]
        cells += ["yes" if r["within_tolerance"] else "no", "**chosen**" if r["chosen"] else ""]
        lines.append("| " + " | ".join(cells) + " |")
    c = study.choice
    z, y, x = study.shape
    text = [
        f"Tile study of {Path(study.model).name} (sha256 {study.sha256[:12]}) on "
        f"{Path(study.volume).name} ({z} x {y} x {x}), slices {study.slices}, "
        f"{study.device_name} ({study.torch_threads} torch threads); {study.created}.",
        "",
        *lines,
        "",
        f"Chosen: tile {c['tile']} px, overlap {c['overlap']} px, window {c['window']} "
        f"(context {c['context']} px): {format_rate(c['voxels_per_s'])}, "
        f"{100 * c['disagreement']:.4f} % of labels differ from the single pass.",
        f"Rule: {study.rule}.",
    ]
    if study.cache is not None:
        text.append(f"Cached in {study.cache} for `volseg segment --tile auto`.")
    return "\n".join(text) + "\n"


def _text_file(path: Path, text: str) -> Path:
    return write_atomically(path, lambda f: f.write(text.encode()))


def write_tile_study(study: TileStudy, out: Path) -> dict[str, Path]:
    """Write the study's JSON, CSV (one row per setting), markdown table and plot."""
    from volseg.viz import plot_tile_study, save_figure

    out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_COLUMNS + _score_columns(study), lineterminator="\n")
    writer.writeheader()
    for row in study.rows:
        writer.writerow({k: row.get(k) for k in writer.fieldnames})
    record: dict[str, Any] = study.to_dict()
    files = {
        "json": _text_file(out / "tiles.json", json.dumps(record, indent=2) + "\n"),
        "csv": _text_file(out / "tiles.csv", buf.getvalue()),
        "md": _text_file(out / "tiles.md", tile_table(study)),
    }
    fig = plot_tile_study(
        study.rows,
        tolerance=study.tolerance,
        title=f"{Path(study.model).name} on {study.device_name}, slices {study.slices}",
    )
    files["png"] = save_figure(fig, out / "tiles.png")
    return files
