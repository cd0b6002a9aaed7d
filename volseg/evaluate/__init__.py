"""Score segmentations of whole volumes: streamed per-slice and volume metrics, object-level
matching of instance labels, reports, overlays."""

from volseg.evaluate._inputs import LabelVolume, open_label_volume, parse_slices
from volseg.evaluate._matching import ObjectMatch, instance_labels, match_objects
from volseg.evaluate._overlaps import Overlaps, object_overlaps
from volseg.evaluate._report import markdown, summary, write_overlays, write_report
from volseg.evaluate._volume import Evaluation, evaluate_volumes

__all__ = [
    "Evaluation",
    "LabelVolume",
    "ObjectMatch",
    "Overlaps",
    "evaluate_volumes",
    "instance_labels",
    "markdown",
    "match_objects",
    "object_overlaps",
    "open_label_volume",
    "parse_slices",
    "summary",
    "write_overlays",
    "write_report",
]
