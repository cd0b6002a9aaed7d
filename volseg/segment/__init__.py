"""Segment whole volumes: a checkpoint streamed over chunk-aligned blocks on dask."""

from volseg.segment._config import SegmentConfig, make_segment_config
from volseg.segment._output import SEGMENTATION, create_output, open_output
from volseg.segment._resolve import ResolvedRun, resolve_run, segment_plan
from volseg.segment._segment import PREFETCH, SegmentBlock, SegmentResult, segment

__all__ = [
    "PREFETCH",
    "SEGMENTATION",
    "ResolvedRun",
    "SegmentBlock",
    "SegmentConfig",
    "SegmentResult",
    "create_output",
    "make_segment_config",
    "open_output",
    "resolve_run",
    "segment",
    "segment_plan",
]
