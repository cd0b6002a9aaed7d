"""The resolved inference plan: every number the predictor uses, derived once, then frozen."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, get_args

from torch import nn

from volseg._options import DEFAULT_OVERLAP, DEFAULT_WINDOW, Precision, SkipPolicy
from volseg.errors import ConfigError
from volseg.geometry import Box
from volseg.infer._blend import ProbabilityDtype
from volseg.infer._result import Output
from volseg.models import Checkpoint, resolve_precision
from volseg.tiling import (
    TileGrid,
    WindowKind,
    derive_batch_size,
    derive_context,
    derive_tiling,
    read_region,
    z_halo_for,
)
from volseg.tiling._derive import Device

__all__ = ["InferencePlan", "SkipPolicy"]


def _check_choice(name: str, value: object, choices: Any) -> None:
    allowed = get_args(choices)
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def _auto_compile(device: Device, precision: Precision) -> bool:
    """``torch.compile`` by default: on CUDA at half precision, where Triton is installed
    (fp32 stays eager: it is chosen to match the CPU's labels)."""
    half = resolve_precision(precision, device) in ("bf16", "fp16")
    return device == "cuda" and half and importlib.util.find_spec("triton") is not None


def _positive_int(name: str, value: object, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class InferencePlan:
    """How a volume is predicted: resolved once (:meth:`resolve`), then handed down.

    The predictor derives nothing: tile grid, context, batch, window, normalization,
    logit offsets, device and outputs are all here, validated at construction. The plan
    is plain JSON (:meth:`to_json`, :meth:`from_json`) and its :attr:`hash` identifies
    the outputs it gives (with the weights): a resumed run must have the same.

    Parameters
    ----------
    volume_shape : (int, int, int)
        ``(z, y, x)`` of the volume; the tile grid covers its slices.
    tile, overlap : int
        Tile edge and overlap in px (:func:`volseg.tiling.derive_tiling`).
    context : int
        Px of real data read around every tile and discarded after the forward pass.
    batch_size : int
        Tiles per forward pass; every pass is padded to this size.
    normalization : (float, float)
        ``(mean, std)``: the model sees ``(x - mean) / std`` in float32.
    window : {"gaussian", "uniform", "crop-centre"}, default "gaussian"
        Blending window (:func:`volseg.tiling.blend_window`).
    device : {"cpu", "cuda"}, default "cpu"
        Where the model, blending and decision run.
    logit_offsets : tuple of float, optional
        Per-class offsets added before the decision.
    outputs : frozenset of {"labels", "probabilities", "uncertainty"}
        What a block returns (labels always).
    skip : {"none", "empty"}, default "none"
        ``"empty"`` does not run tiles whose input is one constant value.
    probability_dtype : {"float16", "uint8"}, default "float16"
        Storage of the probabilities output.
    in_channels : int, default 1
        The model's input channels: neighbouring slices of 2.5D input (the z halo).
    precision : {"auto", "bf16", "fp16", "fp32"}, default "auto"
        Arithmetic of the forward pass, stored resolved: ``"auto"`` becomes ``"bf16"`` on
        CUDA and ``"fp32"`` on the CPU (:func:`volseg.models.resolve_precision`).
    compiled : bool, default False
        Run the network through ``torch.compile`` (CUDA only: 1.5x faster for SegNet on an
        H100, about 12 s to compile in each worker process; see docs/benchmarks.md).
    """

    volume_shape: tuple[int, int, int]
    tile: int
    overlap: int
    context: int
    batch_size: int
    normalization: tuple[float, float]
    window: WindowKind = "gaussian"
    device: Device = "cpu"
    logit_offsets: tuple[float, ...] | None = None
    outputs: frozenset[Output] = field(default_factory=lambda: frozenset({"labels"}))
    skip: SkipPolicy = "none"
    probability_dtype: ProbabilityDtype = "float16"
    in_channels: int = 1
    precision: Precision = "auto"
    compiled: bool = False

    def __post_init__(self) -> None:
        shape = tuple(self.volume_shape)
        if len(shape) != 3 or any(isinstance(s, bool) or not isinstance(s, int) for s in shape):
            raise ConfigError(f"volume_shape must be three integers (z, y, x), got {shape}")
        if min(shape) < 1:
            raise ConfigError(f"volume_shape must be positive, got {shape}")
        object.__setattr__(self, "volume_shape", shape)
        _positive_int("tile", self.tile, 1)
        _positive_int("overlap", self.overlap, 0)
        if self.overlap >= self.tile:
            raise ConfigError(f"overlap must be smaller than the tile, got {self.overlap}")
        _positive_int("context", self.context, 0)
        _positive_int("batch_size", self.batch_size, 1)
        _positive_int("in_channels", self.in_channels, 1)
        _check_choice("window", self.window, WindowKind)
        _check_choice("device", self.device, Device)
        _check_choice("skip", self.skip, SkipPolicy)
        _check_choice("probability_dtype", self.probability_dtype, ProbabilityDtype)
        object.__setattr__(self, "precision", resolve_precision(self.precision, self.device))
        if not isinstance(self.compiled, bool):
            raise ConfigError(f"compiled must be true or false, got {self.compiled!r}")
        if self.compiled and self.device != "cuda":
            raise ConfigError(
                "torch.compile runs on CUDA only here (compiling for the CPU takes minutes and "
                "gains little); leave compile off on the CPU"
            )
        mean, std = (float(v) for v in self.normalization)
        if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
            raise ConfigError(
                f"normalization needs a finite mean and std > 0, got {self.normalization}"
            )
        object.__setattr__(self, "normalization", (mean, std))
        if self.logit_offsets is not None:
            offsets = tuple(float(v) for v in self.logit_offsets)
            if not all(math.isfinite(v) for v in offsets):
                raise ConfigError(f"logit_offsets must be finite, got {offsets}")
            object.__setattr__(self, "logit_offsets", offsets)
        outputs = frozenset(self.outputs) | {"labels"}
        unknown = outputs - set(get_args(Output))
        if unknown:
            raise ConfigError(
                f"outputs must be among {sorted(get_args(Output))}, got {sorted(unknown)}"
            )
        object.__setattr__(self, "outputs", outputs)

    # ---------------------------------------------------------------- derived
    @property
    def grid(self) -> TileGrid:
        """The global tile grid of the volume's slices."""
        return TileGrid(self.volume_shape[1:], self.tile, self.overlap)

    @property
    def z_halo(self) -> int:
        """Slices read on each side of a slice (2.5D input)."""
        return z_halo_for(self.in_channels)

    def read_region(self, block: Box) -> Box:
        """The box of the volume a block needs (:func:`volseg.tiling.read_region`): known
        where the run is planned, before any model is loaded."""
        return read_region(
            block,
            self.grid,
            context=self.context,
            z_halo=self.z_halo,
            volume_shape=self.volume_shape,
            window=self.window,
        )

    # ---------------------------------------------------------------- resolve
    @classmethod
    def resolve(
        cls, checkpoint: Checkpoint, *, volume_shape: Sequence[int], device: Device, **options: Any
    ) -> InferencePlan:
        """The plan of a checkpoint: :meth:`for_model` with its normalization and logit
        offsets (``options`` as there).

        Raises
        ------
        ConfigError
            Options out of range, or a checkpoint without a normalization record.
        """
        info = checkpoint.info
        if info.normalization is None:
            raise ConfigError(
                f"checkpoint {checkpoint.path} has no input normalization "
                "(metadata['normalization'] = {'mean', 'std'}); train it with `volseg train`"
            )
        return cls.for_model(
            checkpoint.model,
            normalization=info.normalization,
            logit_offsets=info.logit_offsets,
            volume_shape=volume_shape,
            device=device,
            **options,
        )

    @classmethod
    def for_model(
        cls,
        model: nn.Module,
        *,
        normalization: tuple[float, float],
        logit_offsets: Sequence[float] | None,
        volume_shape: Sequence[int],
        device: Device,
        tile: int | None = None,
        overlap: float | int = DEFAULT_OVERLAP,
        context: int | None = None,
        window: WindowKind = DEFAULT_WINDOW,
        batch_size: int | None = None,
        block: Box | None = None,
        outputs: frozenset[Output] = frozenset({"labels"}),
        skip: SkipPolicy = "none",
        probability_dtype: ProbabilityDtype = "float16",
        precision: Precision = "auto",
        compiled: bool | None = None,
    ) -> InferencePlan:
        """The one place where a prediction's numbers are derived; what is given is kept.

        Tile and overlap from :func:`volseg.tiling.derive_tiling`, context from
        :func:`volseg.tiling.derive_context` (both for the model's ``alignment``), batch
        size from :func:`volseg.tiling.derive_batch_size` (for its parameter count; never
        more than the tiles of ``block``, a full block of the run: every pass is padded
        to the batch size, so a larger batch would only run blank tiles). Segmentation
        (:meth:`resolve`) and training validation (an in-memory model) both come here.

        Raises
        ------
        ConfigError
            Options out of range.
        """
        _check_choice("window", window, WindowKind)
        alignment = int(getattr(model, "alignment", 1))
        tile, overlap_px = derive_tiling(
            alignment=alignment, tile=tile, overlap=overlap, device=device
        )
        context = derive_context(alignment=alignment, context=context, overlap=overlap_px)
        shape = tuple(int(s) for s in volume_shape)
        if batch_size is None:
            params = sum(p.numel() for p in model.parameters())
            batch_size = derive_batch_size(tile, device, model_params=params)
            if block is not None:
                grid = TileGrid((shape[1], shape[2]), tile, overlap_px)
                (z0, y0, x0), (z1, y1, x1) = block.start, block.stop
                per_block = (z1 - z0) * len(grid.tiles_touching(y0, y1, x0, x1, window=window))
                batch_size = min(batch_size, max(per_block, 1))
        return cls(
            volume_shape=shape,  # type: ignore[arg-type]
            tile=tile,
            overlap=overlap_px,
            context=context,
            batch_size=batch_size,
            normalization=normalization,
            window=window,
            device=device,
            logit_offsets=None if logit_offsets is None else tuple(logit_offsets),
            outputs=outputs,
            skip=skip,
            probability_dtype=probability_dtype,
            in_channels=int(getattr(model, "in_channels", 1)),
            precision=precision,
            compiled=_auto_compile(device, precision) if compiled is None else compiled,
        )

    # ------------------------------------------------------------------- JSON
    def to_json(self) -> dict[str, Any]:
        """Plain JSON (lists for tuples, the outputs sorted)."""
        data = asdict(self)
        data["volume_shape"] = list(self.volume_shape)
        data["normalization"] = list(self.normalization)
        data["logit_offsets"] = None if self.logit_offsets is None else list(self.logit_offsets)
        data["outputs"] = sorted(self.outputs)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InferencePlan:
        """The plan :meth:`to_json` wrote (validated again)."""
        try:
            return cls(
                **{
                    **data,
                    "volume_shape": tuple(data["volume_shape"]),
                    "normalization": tuple(data["normalization"]),
                    "outputs": frozenset(data["outputs"]),
                }
            )
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"not an inference plan: {exc}") from None

    @property
    def hash(self) -> str:
        """sha256 of the canonical JSON: the identity of the outputs (with the weights)."""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()
