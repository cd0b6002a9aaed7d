"""``segment``: a whole volume through a checkpoint, block by block on dask.distributed."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zarr

from volseg.errors import ConfigError
from volseg.geometry import Block
from volseg.infer import worker_predictor
from volseg.io import VolumeStore, build_pyramid, provenance, read_box
from volseg.models import load_checkpoint, read_checkpoint_header
from volseg.runtime import (
    BlockTask,
    Ledger,
    RunSummary,
    attach_summary,
    connect,
    open_run,
    run_task,
)
from volseg.segment._checks import check_inputs
from volseg.segment._config import SegmentConfig
from volseg.segment._output import SEGMENTATION, create_output, open_output
from volseg.segment._resolve import ResolvedRun, resolve_run

if TYPE_CHECKING:
    from distributed import Client

#: Blocks a worker reads or writes while another computes: dask runs this many more tasks
#: per worker than it computes at once (the predictor's lock lets one compute).
PREFETCH = 1


def _array(group: zarr.Group, path: str) -> zarr.Array:
    node = group[path]
    if not isinstance(node, zarr.Array):
        raise ConfigError(f"{group.store}: {path} is not an array; is this a segmentation output?")
    return node


@dataclass(frozen=True)
class SegmentBlock:
    """The block function of a run: small and picklable (the resolved run and the output
    path). A worker builds its predictor on the first block and reuses it
    (:func:`volseg.infer.worker_predictor`); reading and writing happen outside the
    predictor's lock, so a worker with ``1 + PREFETCH`` threads reads the next block and
    writes the last one while a block computes."""

    run: ResolvedRun
    out: str

    def __call__(self, block: Block) -> dict[str, Any]:
        run = self.run
        predictor = worker_predictor(run.checkpoint, run.weights_sha256, run.plan)
        image = zarr.open_array(Path(run.volume) / "0", mode="r")
        region = predictor.read_region(block.box)
        # A damaged or missing chunk fails the block; the run's summary names the block.
        data = read_box(image, region, fill_missing=run.fill_missing)
        result = predictor.predict(block.box, data, region)
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
    InputError, ConfigError
        A volume the checkpoint cannot segment (not 3D (z, y, x), an unsupported
        dtype, fewer slices than input channels, a voxel size far from the
        checkpoint's; see :func:`check_inputs`), checked before the model loads and
        before ``out`` is created; ``resume`` without an earlier run, or options the
        model or volume refuse.
    StoreExistsError, RunLockedError, ResumeMismatchError
        ``out`` exists (without ``overwrite``/``resume``), another run holds its lock, or
        the layout or config changed since the run being resumed.
    """
    t0 = time.perf_counter()
    volume = VolumeStore.open(config.volume)
    volume.require_complete()
    # Before the model loads and before the output exists (docs/tiling.md, inputs).
    notes = check_inputs(volume, read_checkpoint_header(config.model), config)
    ckpt = load_checkpoint(config.model)
    run, tile_source = resolve_run(config, volume, ckpt)
    plan = run.plan
    resolved = {
        **config.model_dump(mode="json"),
        "device": plan.device,
        "tile": plan.tile,
        "tile_source": tile_source,
        "overlap": plan.overlap,
        "window": plan.window,
        "context": plan.context,
        "batch_size": plan.batch_size,
        "weights_sha256": run.weights_sha256,
        "classes": list(run.classes),
        "run": run.to_json(),
        "run_hash": run.hash,
        "input_notes": notes,
    }
    out = Path(config.out)
    if config.resume and not (out / "zarr.json").is_file():
        raise ConfigError(f"--resume: {out} does not exist; run without --resume first")

    def create() -> VolumeStore:
        return create_output(
            volume,
            out,
            classes=run.classes,
            probabilities=config.probabilities,
            uncertainty=config.uncertainty,
            overwrite=config.overwrite,
            provenance=provenance(
                command=command,
                config=resolved,
                inputs=[
                    {
                        "kind": "volume",
                        "path": run.volume,
                        "sha256": volume.meta.get("provenance", {})
                        .get("inputs", [{}])[0]
                        .get("sha256"),
                    },
                    {"kind": "checkpoint", "path": run.checkpoint, "sha256": run.weights_sha256},
                ],
            ),
        )

    # The lock is held from the output's creation to the end of the run.
    with open_run(
        out,
        create=create,
        reopen=lambda: open_output(out),
        resume=config.resume,
        overwrite=config.overwrite,
    ) as store:
        ledger = Ledger(out)
        ledger.start(run.to_json(), resume=config.resume)
        # Half a GPU per block: two blocks of a worker run at once, one computing while
        # the other reads or writes (the predictor's lock lets one compute at a time).
        task: BlockTask[Block] = BlockTask(
            "segment",
            run.grid,
            SegmentBlock(run, str(out.resolve())),
            read_box=lambda block: plan.read_region(block.box),
            done=ledger,
            retries=config.retries,
            resources={"GPU": 1.0 / (1 + PREFETCH)} if plan.device == "cuda" else None,
        )
        with contextlib.ExitStack() as stack:
            if client is None and not inline:
                client = stack.enter_context(
                    connect(
                        config.scheduler,
                        n_workers=config.workers,
                        threads_per_worker=config.threads_per_worker,
                        resources={"GPU": 1} if plan.device == "cuda" else None,
                        spare_threads=PREFETCH,
                    )
                )
            summary = run_task(task, None if inline else client, progress=progress)
        if summary.ok:
            try:
                if store.levels > 1:
                    build_pyramid(store, labels=[SEGMENTATION], image=False, progress=progress)
                store.mark_complete(
                    segment={
                        "blocks": summary.total,
                        "seconds": round(summary.seconds, 3),
                        "voxels_per_s": round(summary.voxels_per_s, 1),
                        **{
                            k: v for k, v in summary.stats_sum.items() if isinstance(v, int | float)
                        },
                    }
                )
            except OSError as exc:  # every block is done: the summary says --resume finishes
                attach_summary(exc, summary)
                raise
    return SegmentResult(
        out=out, summary=summary, config=resolved, seconds=time.perf_counter() - t0
    )
