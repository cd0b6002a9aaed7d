"""``segment``: a whole volume through a checkpoint, block by block on dask.distributed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import zarr

from volseg.errors import ConfigError
from volseg.geometry import Block, BlockGrid, Box
from volseg.infer import (
    BlockPredictor,
    Output,
    ProbabilityDtype,
    SkipPolicy,
    cached_checkpoint,
    resolve_device,
)
from volseg.io import VolumeStore, build_pyramid, provenance
from volseg.models import load_checkpoint
from volseg.runtime import Ledger, RunLock, RunSummary, connect, plan_blocks, run_blocks
from volseg.segment._config import SegmentConfig
from volseg.segment._output import SEGMENTATION, create_output, open_output
from volseg.tiling import (
    TileGrid,
    WindowKind,
    derive_batch_size,
    derive_context,
    derive_tiling,
)


def _array(group: zarr.Group, path: str) -> zarr.Array:
    node = group[path]
    if not isinstance(node, zarr.Array):
        raise ConfigError(f"{group.store}: {path} is not an array; is this a segmentation output?")
    return node


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
class BlockJob:
    """What a worker needs to segment one block (small and picklable; the model is loaded
    once per worker process from ``checkpoint`` and checked against ``sha256``)."""

    volume: str
    out: str
    checkpoint: str
    sha256: str
    device: Literal["cpu", "cuda"]
    tile: int
    overlap: int
    context: int
    window: WindowKind
    batch_size: int
    skip: SkipPolicy
    probabilities: ProbabilityDtype | None
    uncertainty: bool

    def predictor(self, shape: tuple[int, ...]) -> BlockPredictor:
        ckpt = cached_checkpoint(self.checkpoint, self.sha256, self.device)
        outputs: set[Output] = {"labels"}
        if self.probabilities:
            outputs.add("probabilities")
        if self.uncertainty:
            outputs.add("uncertainty")
        return BlockPredictor.from_checkpoint(
            ckpt,
            volume_shape=shape,
            device=self.device,
            tile=self.tile,
            overlap=self.overlap,
            context=self.context,
            window=self.window,
            batch_size=self.batch_size,
            outputs=frozenset(outputs),
            skip=self.skip,
            probability_dtype=self.probabilities or "float16",
        )

    def __call__(self, block: Block) -> dict[str, Any]:
        image = zarr.open_array(Path(self.volume) / "0", mode="r")
        predictor = self.predictor(image.shape)
        region = predictor.read_region(block.box)
        result = predictor.predict(block.box, np.asarray(image[region.slices]), region)
        out = zarr.open_group(self.out, mode="r+")
        _array(out, f"labels/{SEGMENTATION}/0")[block.box.slices] = result.labels
        if result.probabilities is not None:
            _array(out, "probabilities")[(slice(None), *block.box.slices)] = result.probabilities
        if result.uncertainty is not None:
            _array(out, "uncertainty")[block.box.slices] = result.uncertainty
        s = result.stats
        return {
            "tiles": s.tiles_run,
            "skipped_tiles": s.tiles_skipped,
            "forward_passes": s.forward_passes,
            "seconds": s.seconds,
        }


@dataclass
class SegmentResult:
    """How a segmentation run ended; ``ok`` is False when blocks failed."""

    out: Path
    summary: RunSummary
    config: dict[str, Any]
    seconds: float

    @property
    def ok(self) -> bool:
        return self.summary.ok


def _resolved(
    config: SegmentConfig, volume: VolumeStore, block: Box
) -> tuple[BlockJob, dict[str, Any]]:
    """Derive device, tiling and batch size. The batch never exceeds the tiles of one full
    block: every forward pass is padded to the batch size (for bit-identical outputs), so a
    larger batch would only run blank tiles."""
    ckpt = load_checkpoint(config.model)
    device: Literal["cpu", "cuda"] = (
        "cuda" if resolve_device(config.device).type == "cuda" else "cpu"
    )
    tile, overlap = derive_tiling(
        alignment=ckpt.alignment, tile=config.tile, overlap=config.overlap, device=device
    )
    context = derive_context(alignment=ckpt.alignment, context=config.context, overlap=overlap)
    params = sum(p.numel() for p in ckpt.model.parameters())
    batch = config.batch_size
    if batch is None:
        _, ny, nx = volume.image(0).shape
        grid = TileGrid((ny, nx), tile, overlap)
        (z0, y0, x0), (z1, y1, x1) = block.start, block.stop
        per_block = (z1 - z0) * len(grid.tiles_touching(y0, y1, x0, x1, window=config.window))
        batch = min(derive_batch_size(tile, device, model_params=params), max(per_block, 1))
    job = BlockJob(
        volume=str(volume.path.resolve()),
        out=str(Path(config.out).resolve()),
        checkpoint=str(Path(config.model).resolve()),
        sha256=ckpt.sha256,
        device=device,
        tile=tile,
        overlap=overlap,
        context=context,
        window=config.window,
        batch_size=batch,
        skip=config.skip,
        probabilities=config.probabilities,
        uncertainty=config.uncertainty,
    )
    resolved = {
        **config.model_dump(mode="json"),
        "device": device,
        "tile": tile,
        "overlap": overlap,
        "context": context,
        "batch_size": batch,
        "weights_sha256": ckpt.sha256,
        "classes": ckpt.metadata.get("classes"),
    }
    return job, resolved


def segment(
    config: SegmentConfig, *, progress: bool = True, command: str | None = None
) -> SegmentResult:
    """Segment ``config.volume`` with ``config.model`` into ``config.out``.

    The output holds the input image (hard links), ``labels/segmentation`` (uint8 argmax
    labels), and optionally ``probabilities`` and ``uncertainty``; it is marked complete
    only when every block is done. A run lock refuses a concurrent run on the same output;
    ``resume`` skips blocks the ledger marks done and refuses a changed layout or config.
    Failed blocks (after ``retries``) are reported by id in the result, the others finish.
    """
    t0 = time.perf_counter()
    volume = VolumeStore.open(config.volume)
    volume.require_complete()
    image = volume.image(0)
    grid = segment_plan(image.shape, image.chunks, config.block_shape)
    job, resolved = _resolved(config, volume, grid.block(0).box)
    classes = resolved["classes"] or [f"class {i}" for i in range(2)]
    out = Path(config.out)
    if config.resume:
        if not (out / "zarr.json").is_file():
            raise ConfigError(f"--resume: {out} does not exist; run without --resume first")
        store = open_output(out)
    else:
        if out.exists():  # never delete the output of a run that is still going
            RunLock(out).ensure_free()
        store = create_output(
            volume,
            out,
            classes=classes,
            probabilities=config.probabilities,
            uncertainty=config.uncertainty,
            overwrite=config.overwrite,
            provenance=provenance(
                command=command,
                config=resolved,
                inputs=[
                    {
                        "kind": "volume",
                        "path": job.volume,
                        "sha256": volume.meta.get("provenance", {})
                        .get("inputs", [{}])[0]
                        .get("sha256"),
                    },
                    {"kind": "checkpoint", "path": job.checkpoint, "sha256": job.sha256},
                ],
            ),
        )
    layout = {
        "shape": list(image.shape),
        "chunks": list(image.chunks),
        "block_shape": list(grid.block_shape),
        "config": {
            k: v
            for k, v in resolved.items()
            if k
            not in (
                "scheduler",
                "workers",
                "threads_per_worker",
                "retries",
                "resume",
                "overwrite",
                "out",
            )
        },
    }
    with RunLock(out):
        ledger = Ledger(out)
        if not config.resume and ledger.exists:
            ledger.reset()
        ledger.start(layout, resume=config.resume)
        resources = {"GPU": 1} if job.device == "cuda" else None
        with connect(
            config.scheduler,
            n_workers=config.workers,
            threads_per_worker=config.threads_per_worker,
            resources=resources,
        ) as client:
            summary = run_blocks(
                client,
                grid,
                job,
                ledger=ledger,
                retries=config.retries,
                progress=progress,
                resources=resources,
            )
        if summary.ok:
            if store.levels > 1:
                build_pyramid(store, labels=[SEGMENTATION], image=False, progress=progress)
            store.mark_complete(
                segment={
                    "blocks": summary.total,
                    "seconds": round(summary.seconds, 3),
                    "voxels_per_s": round(summary.voxels_per_s, 1),
                    **{k: v for k, v in summary.stats_sum.items() if isinstance(v, int | float)},
                }
            )
    return SegmentResult(
        out=out, summary=summary, config=resolved, seconds=time.perf_counter() - t0
    )
