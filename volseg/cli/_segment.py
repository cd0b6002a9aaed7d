"""``volseg segment``: a whole volume through a trained model, on dask.distributed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from volseg.cli._app import ShowProgress, app, command_line, parse_triple
from volseg.cli._output import AsJson, emit
from volseg.errors import ConfigError


def parse_tile(text: str | None) -> int | str | None:
    """``--tile``: a size in px or ``auto``."""
    if text is None or text.strip().lower() == "auto":
        return None if text is None else "auto"
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"--tile takes a tile edge in px (a multiple of the model alignment) or 'auto', "
            f"got {text!r}"
        ) from None


@app.command()
def segment(
    volume: Annotated[Path, typer.Argument(help="The volume store to segment (VOLUME.zarr).")],
    model: Annotated[Path, typer.Option(help="Checkpoint (.pt) written by volseg train.")],
    out: Annotated[Path, typer.Option(help="Output store (OUT.zarr).")],
    tile: Annotated[
        str | None,
        typer.Option(
            help="Tile edge in px (default: derived), or 'auto': the tiling `volseg study "
            "tiles` chose for this model and device (overlap and window included)."
        ),
    ] = None,
    overlap: Annotated[
        float | None, typer.Option(help="Tile overlap: a fraction (<1) or px (default 0.25).")
    ] = None,
    context: Annotated[
        int | None, typer.Option(help="Px of input read around each tile (default: derived).")
    ] = None,
    window: Annotated[
        str | None, typer.Option(help="gaussian, uniform or crop-centre (default gaussian).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Tiles per forward pass.")] = None,
    block: Annotated[
        str | None,
        typer.Option(help="Block shape Z,Y,X (multiples of the chunks; default: derived)."),
    ] = None,
    probabilities: Annotated[
        str | None, typer.Option(help="Also write class probabilities: float16 or uint8.")
    ] = None,
    uncertainty: Annotated[
        bool, typer.Option(help="Also write the tile disagreement map.")
    ] = False,
    skip: Annotated[
        str,
        typer.Option(
            help="'empty' skips constant tiles (outside the field of view); 'none' runs every tile."
        ),
    ] = "empty",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    precision: Annotated[
        str,
        typer.Option(
            help="Forward-pass arithmetic: auto (bf16 on CUDA, float32 on the CPU), bf16, "
            "fp16 or fp32 (CUDA labels closest to CPU labels, slower)."
        ),
    ] = "auto",
    compile_model: Annotated[
        bool | None,
        typer.Option(
            "--compile/--no-compile",
            help="torch.compile the network (default: on for CUDA at bf16/fp16 where Triton "
            "is installed; about 12 s per worker, then 1.5x faster for SegNet on an H100).",
        ),
    ] = None,
    ignore_voxel_size: Annotated[
        bool,
        typer.Option(
            help="Segment a volume whose voxel size is more than 1.5x the checkpoint's "
            "on an axis (recorded in the provenance); without it that is an error."
        ),
    ] = False,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Existing dask scheduler address or scheduler file, or a SLURM config "
            "(.yaml: workers as SLURM jobs) (default: DASK_SCHEDULER_ADDRESS, else local)."
        ),
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Local worker processes.")] = None,
    threads: Annotated[int | None, typer.Option(help="Threads per local worker.")] = None,
    retries: Annotated[int, typer.Option(help="Retries of a failing block.")] = 2,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if it is a volseg store.")] = False,
    fill_missing: Annotated[
        bool,
        typer.Option(
            help="Read missing image chunks as the fill value, for a foreign store that "
            "omits them (recorded in the provenance); without it a missing chunk is an error."
        ),
    ] = False,
    progress: ShowProgress = True,
    as_json: AsJson = False,
) -> None:
    """Segment a volume: chunk-aligned blocks, one global tile grid, blended overlaps."""
    from volseg.segment import make_segment_config
    from volseg.segment import segment as run_segment

    values: dict[str, object] = {
        "volume": str(volume),
        "model": str(model),
        "out": str(out),
        "tile": parse_tile(tile),
        "context": context,
        "batch_size": batch_size,
        "block_shape": parse_triple(block, "--block"),
        "probabilities": probabilities,
        "uncertainty": uncertainty,
        "skip": skip,
        "device": device,
        "precision": precision,
        "compile": compile_model,
        "ignore_voxel_size": ignore_voxel_size,
        "scheduler": scheduler,
        "workers": workers,
        "threads_per_worker": threads,
        "retries": retries,
        "resume": resume,
        "overwrite": overwrite,
        "fill_missing": fill_missing,
    }
    # Left out unless given: with --tile auto they come from the tile study.
    if overlap is not None:
        values["overlap"] = int(overlap) if overlap >= 1 else overlap
    if window is not None:
        values["window"] = window
    cfg = make_segment_config(values)
    result = run_segment(cfg, progress=progress, command=command_line())
    labels = f"{result.out}/labels/segmentation"
    text = [str(result.summary)]
    if result.ok:
        text.append(f"labels: {labels}  (napari --plugin napari-ome-zarr {result.out})")
    summary = {
        "ok": result.ok,
        "out": result.out,
        "labels": labels,
        "seconds": result.seconds,
        "blocks": result.summary,
        "config": result.config,
    }
    emit(summary, text, as_json=as_json)
    if not result.ok:
        typer.secho(
            f"{len(result.summary.failed)} block(s) failed; fix the cause and run "
            "again with --resume",
            fg="red",
            err=True,
        )
        raise typer.Exit(1)
