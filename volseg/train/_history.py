"""Per-epoch training history: CSV + JSON + PNG curves, rewritten after every epoch."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from volseg.viz import plot_training_curves, save_figure


def _clean(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else v


class History:
    """Rows of per-epoch numbers, persisted as ``history.csv``, ``history.json`` and
    ``curves.png`` in ``out`` (so an interrupted run still shows how far it got)."""

    def __init__(self, out: Path, *, classes: list[str]) -> None:
        self.out = out
        self.classes = classes
        self.rows: list[dict[str, Any]] = []

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        fields = list(dict.fromkeys(k for r in self.rows for k in r))
        with (self.out / "history.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(self.rows)
        (self.out / "history.json").write_text(
            json.dumps([{k: _clean(v) for k, v in r.items()} for r in self.rows], indent=1)
        )
        save_figure(plot_training_curves(self.rows, self.classes), self.out / "curves.png")

    def write_summary(self, **values: Any) -> None:
        body = {
            k: (_clean(v) if not isinstance(v, dict) else {a: _clean(b) for a, b in v.items()})
            for k, v in values.items()
        }
        body["epochs_run"] = len(self.rows)
        body["classes"] = self.classes
        (self.out / "summary.json").write_text(json.dumps(body, indent=2))
