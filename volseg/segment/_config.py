"""The segmentation job: one frozen, validated config, stored resolved in the output."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator

from volseg._options import (
    DEFAULT_OVERLAP,
    DEFAULT_PRECISION,
    DEFAULT_SKIP,
    DEFAULT_WINDOW,
    DeviceChoice,
    Precision,
    ProbabilityDtype,
    SkipPolicy,
)
from volseg.config import FrozenConfig, validated
from volseg.tiling import WindowKind


class SegmentConfig(FrozenConfig):
    """Everything that decides a segmentation run.

    ``None`` means "derive": the tile size and batch size from the model and the device,
    the overlap from the tile, the block shape from the output chunks (one chunk deep,
    whole slices; see docs/tiling.md). ``tile="auto"`` takes tile, overlap and window
    (and the context, unless given) from the choice ``volseg study tiles`` cached for the
    checkpoint and device; ``overlap`` and ``window`` must then be left unset.
    ``scheduler`` None starts a local cluster unless ``DASK_SCHEDULER_ADDRESS`` is set.
    """

    model_config = ConfigDict(protected_namespaces=())  # a field is named model

    volume: str
    model: str
    out: str
    tile: int | Literal["auto"] | None = None
    overlap: float | int = Field(DEFAULT_OVERLAP, ge=0)  #: a fraction of the tile (< 1) or pixels
    context: int | None = Field(None, ge=0)  #: px read around each tile (default: derived)
    window: WindowKind = DEFAULT_WINDOW
    batch_size: int | None = Field(None, ge=1)
    block_shape: tuple[int, int, int] | None = None
    probabilities: ProbabilityDtype | None = None
    uncertainty: bool = False
    skip: SkipPolicy = DEFAULT_SKIP
    #: Segment a volume whose voxel size is far from the checkpoint's (recorded).
    ignore_voxel_size: bool = False
    device: DeviceChoice = "auto"
    #: Forward-pass arithmetic: bf16 on CUDA, float32 on the CPU by default (recorded).
    precision: Precision = DEFAULT_PRECISION
    #: torch.compile the network (None: on for CUDA at bf16/fp16 where Triton is installed).
    compile: bool | None = None
    scheduler: str | None = None
    workers: int | None = Field(None, ge=1)
    threads_per_worker: int | None = Field(None, ge=1)
    retries: int = Field(2, ge=0)
    resume: bool = False
    overwrite: bool = False
    #: Read missing image chunks as the fill value (a foreign store that omits them).
    fill_missing: bool = False

    @field_validator("tile", mode="before")
    @classmethod
    def _tile(cls, value: object) -> object:
        if value is None or value == "auto":
            return value
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 16:
            raise ValueError(f"a tile edge in px (>= 16) or 'auto', got {value!r}")
        return value


def make_segment_config(values: dict[str, Any]) -> SegmentConfig:
    """Build a :class:`SegmentConfig`, turning validation errors into one :class:`ConfigError`.

    Parameters
    ----------
    values
        The options of ``volseg segment`` by field name: ``volume``, ``model`` and ``out``
        at least (paths), then ``tile``, ``overlap``, ``window``, ``device``, ``scheduler``,
        ``resume``, ``overwrite``, ... (see :class:`SegmentConfig`).

    Returns
    -------
    SegmentConfig
        The validated, frozen config.

    Raises
    ------
    ConfigError
        Names every invalid or unknown option and why.
    """
    return validated(SegmentConfig, values, what="segment options", style="flag")
