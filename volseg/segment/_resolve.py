"""Resolve a segmentation run once: the frozen object every block of it is run with."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from volseg.errors import ConfigError
from volseg.geometry import BlockGrid
from volseg.infer import (
    InferencePlan,
    Output,
    device_name,
    lookup_tile_choice,
    resolve_device,
    tile_cache_path,
)
from volseg.io import VolumeStore
from volseg.models import Checkpoint, load_checkpoint
from volseg.runtime import plan_blocks
from volseg.segment._config import SegmentConfig
from volseg.tiling import WindowKind
from volseg.tiling._derive import Device

__all__ = ["PLANE_VOXELS", "ResolvedRun", "resolve_run", "segment_plan"]

#: In-plane extent of a default block: whole slices up to this many pixels.
PLANE_VOXELS = 2**24


def segment_plan(
    shape: tuple[int, ...], chunks: tuple[int, ...], block_shape: tuple[int, ...] | None
) -> BlockGrid:
    """The block plan of a run: ``block_shape`` if given, else one chunk deep with whole
    slices in y/x (up to :data:`PLANE_VOXELS` px, e.g. 4096²; larger slices are split).

    Tiles are 2D: a tile that touches two blocks runs in both, so blocks as wide as the
    slice run each tile once (a 2300 x 1920 slice in 1024² blocks runs 1.6x the tiles).
    Memory stays bounded: a block holds its raw input and uint8 labels, and blends one
    slice at a time.
    """
    return plan_blocks(
        shape, chunks, block_shape, target_bytes=chunks[0] * PLANE_VOXELS, bytes_per_voxel=1
    )


@dataclass(frozen=True)
class ResolvedRun:
    """Everything that decides the output of a segmentation run, resolved once.

    Computed by :func:`resolve_run` when the run is planned, stored in the output's
    provenance and in its ledger (:meth:`to_json`; :attr:`hash` is the layout identity a
    resume must match), and handed to every block, whose predictor derives nothing again.
    Execution settings (scheduler, workers, retries) are not in it: they never change the
    output.
    """

    volume: str
    checkpoint: str
    weights_sha256: str
    classes: tuple[str, ...]
    shape: tuple[int, int, int]
    chunks: tuple[int, int, int]
    block_shape: tuple[int, int, int]
    plan: InferencePlan
    fill_missing: bool = False  #: missing image chunks read as the fill value

    @property
    def grid(self) -> BlockGrid:
        """The block plan."""
        return segment_plan(self.shape, self.chunks, self.block_shape)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON of the run (the plan nested)."""
        return {
            "volume": self.volume,
            "checkpoint": self.checkpoint,
            "weights_sha256": self.weights_sha256,
            "classes": list(self.classes),
            "shape": list(self.shape),
            "chunks": list(self.chunks),
            "block_shape": list(self.block_shape),
            "plan": self.plan.to_json(),
            "fill_missing": self.fill_missing,
        }

    @property
    def hash(self) -> str:
        """sha256 of the canonical JSON of :meth:`to_json`."""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _auto_tiling(
    config: SegmentConfig, sha256: str, device: str, plane: tuple[int, int]
) -> tuple[int, int, WindowKind, int | None, str]:
    """Tile, overlap, window and context of ``--tile auto``: the choice ``volseg study
    tiles`` cached for these weights, this device and this slice size."""
    given = sorted({"overlap", "window"} & config.model_fields_set)
    if given:
        raise ConfigError(
            f"--tile auto takes the overlap and window from the tile study; drop "
            f"{', '.join('--' + g for g in given)}, or give --tile N"
        )
    name = device_name(device)
    choice = lookup_tile_choice(sha256, name, plane)
    if choice is None:
        raise ConfigError(
            f"--tile auto: no tile study of {config.model} (weights {sha256[:12]}) on {name} "
            f"for slices of {plane[0]} x {plane[1]} in {tile_cache_path()}; run `volseg study "
            f"tiles --model {config.model} {config.volume} --out DIR` first, or give --tile N"
        )
    context = choice.context if config.context is None else config.context
    source = f"auto (study tiles {choice.created}, {tile_cache_path()})"
    return choice.tile, choice.overlap, choice.window, context, source


def _outputs(config: SegmentConfig) -> frozenset[Output]:
    outputs: set[Output] = {"labels"}
    if config.probabilities:
        outputs.add("probabilities")
    if config.uncertainty:
        outputs.add("uncertainty")
    return frozenset(outputs)


def resolve_run(
    config: SegmentConfig, volume: VolumeStore, checkpoint: Checkpoint | None = None
) -> tuple[ResolvedRun, str]:
    """Resolve ``config`` against the volume and the checkpoint, once.

    Derives the device, the block plan, tile, overlap, context and batch size
    (:meth:`~volseg.infer.InferencePlan.resolve`; ``tile="auto"`` reads the tile
    study's cached choice here), and takes normalization, logit offsets and class names
    from the checkpoint (``class 0``, ``class 1``, ... as many as the model has when
    training named none).

    Returns
    -------
    ResolvedRun, str
        The run, and where its tiling came from (``derived``, ``option`` or the tile
        study), for the provenance.
    """
    ckpt = checkpoint or load_checkpoint(config.model)
    device: Device = "cuda" if resolve_device(config.device).type == "cuda" else "cpu"
    image = volume.image(0)
    shape = tuple(int(s) for s in image.shape)
    chunks = tuple(int(c) for c in image.chunks)
    grid = segment_plan(shape, chunks, config.block_shape)
    window: WindowKind = config.window
    tile: int | None
    overlap, context = config.overlap, config.context
    if config.tile == "auto":
        tile, overlap, window, context, source = _auto_tiling(
            config, ckpt.sha256, config.device, (shape[1], shape[2])
        )
    else:
        tile, source = config.tile, "derived" if config.tile is None else "option"
    plan = InferencePlan.resolve(
        ckpt,
        volume_shape=shape,
        device=device,
        tile=tile,
        overlap=overlap,
        context=context,
        window=window,
        batch_size=config.batch_size,
        block=grid.block(0).box,
        outputs=_outputs(config),
        skip=config.skip,
        probability_dtype=config.probabilities or "float16",
        precision=config.precision,
        compiled=config.compile,
    )
    run = ResolvedRun(
        volume=str(volume.path.resolve()),
        checkpoint=str(Path(config.model).resolve()),
        weights_sha256=ckpt.sha256,
        classes=ckpt.info.classes,
        shape=shape,  # type: ignore[arg-type]
        chunks=chunks,  # type: ignore[arg-type]
        block_shape=grid.block_shape,  # type: ignore[arg-type]
        plan=plan,
        fill_missing=config.fill_missing,
    )
    return run, source
