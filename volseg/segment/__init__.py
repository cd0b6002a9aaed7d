"""Segment whole volumes: a checkpoint streamed over chunk-aligned blocks on dask."""

from volseg.segment._config import SegmentConfig, make_segment_config
from volseg.segment._output import SEGMENTATION, create_output, open_output
from volseg.segment._segment import BlockJob, SegmentResult, segment

__all__ = [
    "SEGMENTATION",
    "BlockJob",
    "SegmentConfig",
    "SegmentResult",
    "create_output",
    "make_segment_config",
    "open_output",
    "segment",
]
