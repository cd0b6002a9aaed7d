"""``segment``: a whole volume through a checkpoint, block by block on dask.distributed."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

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
    device_name,
    lookup_tile_choice,
    resolve_device,
    tile_cache_path,
)
from volseg.io import VolumeStore, build_pyramid, provenance
from volseg.models import load_checkpoint
from volseg.runtime import Ledger, RunLock, RunSummary, connect, plan_blocks, run_blocks
from volseg.segment._config import SegmentConfig
from volseg.segment._output import SEGMENTATION, create_output, open_output

if TYPE_CHECKING:
    from distributed import Client

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


def _resolved(
    config: SegmentConfig, volume: VolumeStore, block: Box
) -> tuple[BlockJob, dict[str, Any]]:
    """Derive device, tiling and batch size. The batch never exceeds the tiles of one full
    block: every forward pass is padded to the batch size (for bit-identical outputs), so a
    larger batch would only run blank tiles. ``tile="auto"`` reads the tile study's cached
    choice here, once; the workers get the numbers."""
    ckpt = load_checkpoint(config.model)
    device: Literal["cpu", "cuda"] = (
        "cuda" if resolve_device(config.device).type == "cuda" else "cpu"
    )
    _, ny, nx = volume.image(0).shape
    window: WindowKind = config.window
    wanted_tile: int | None
    wanted_overlap, wanted_context = config.overlap, config.context
    if config.tile == "auto":
        wanted_tile, wanted_overlap, window, wanted_context, source = _auto_tiling(
            config, ckpt.sha256, config.device, (ny, nx)
        )
    else:
        wanted_tile, source = config.tile, "derived" if config.tile is None else "option"
    tile, overlap = derive_tiling(
        alignment=ckpt.alignment, tile=wanted_tile, overlap=wanted_overlap, device=device
    )
    context = derive_context(alignment=ckpt.alignment, context=wanted_context, overlap=overlap)
    params = sum(p.numel() for p in ckpt.model.parameters())
    batch = config.batch_size
    if batch is None:
        grid = TileGrid((ny, nx), tile, overlap)
        (z0, y0, x0), (z1, y1, x1) = block.start, block.stop
        per_block = (z1 - z0) * len(grid.tiles_touching(y0, y1, x0, x1, window=window))
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
        window=window,
        batch_size=batch,
        skip=config.skip,
        probabilities=config.probabilities,
        uncertainty=config.uncertainty,
    )
    resolved = {
        **config.model_dump(mode="json"),
        "device": device,
        "tile": tile,
        "tile_source": source,
        "overlap": overlap,
        "window": window,
        "context": context,
        "batch_size": batch,
        "weights_sha256": ckpt.sha256,
        "classes": ckpt.metadata.get("classes"),
    }
    return job, resolved


def segment(
    config: SegmentConfig,
    *,
    progress: bool = True,
    command: str | None = None,
    client: Client | None = None,
    inline: bool = False,
) -> SegmentResult:
    """Segment ``config.volume`` with ``config.model`` into ``config.out``.

    The output holds the input image (hard links), ``labels/segmentation`` (uint8 argmax
    labels), and optionally ``probabilities`` and ``uncertainty``; it is marked complete
    only when every block is done. A run lock refuses a concurrent run on the same output;
    ``resume`` skips blocks the ledger marks done and refuses a changed layout or config.
    Failed blocks (after ``retries``) are reported by id in the result, the others finish.

    The blocks run on ``client`` when given, else on a cluster from ``config.scheduler``
    (a local one by default); ``inline`` runs them one after another in this process, for
    a caller that is itself one task of a cluster (a study run scores its test images so).

    Parameters
    ----------
    config
        What to segment with which model into which store, and how
        (:func:`make_segment_config` builds it from a dict).
    progress
        Show a progress bar.
    command
        The command line recorded in the output's provenance (the CLI passes its own).
    client
        A dask client to run the blocks on; ``None`` connects as ``config.scheduler`` says.
    inline
        Run the blocks in this process, one after another (no cluster).

    Returns
    -------
    SegmentResult
        ``out``, the run ``summary`` (blocks done / skipped / failed, time, voxels/s), the
        resolved ``config`` and ``seconds``; ``ok`` is False when blocks failed.

    Raises
    ------
    StoreNotFoundError, IncompleteStoreError
        The volume is missing or was never finished.
    ConfigError
        ``resume`` without an earlier run, or options the model or volume refuse.
    StoreExistsError, RunLockedError, ResumeMismatchError
        ``out`` exists (without ``overwrite``/``resume``), another run holds its lock, or
        the layout or config changed since the run being resumed.
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
        with contextlib.ExitStack() as stack:
            if client is None and not inline:
                client = stack.enter_context(
                    connect(
                        config.scheduler,
                        n_workers=config.workers,
                        threads_per_worker=config.threads_per_worker,
                        resources=resources,
                    )
                )
            summary = run_blocks(
                None if inline else client,
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
