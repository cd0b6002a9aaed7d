"""Score segmentations of whole volumes: streamed per-slice and volume metrics, reports,
overlays."""

from volseg.evaluate._inputs import LabelVolume, open_label_volume, parse_slices
from volseg.evaluate._report import markdown, summary, write_overlays, write_report
from volseg.evaluate._volume import Evaluation, evaluate_volumes

__all__ = [
    "Evaluation",
    "LabelVolume",
    "evaluate_volumes",
    "markdown",
    "open_label_volume",
    "parse_slices",
    "summary",
    "write_overlays",
    "write_report",
]
