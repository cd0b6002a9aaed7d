"""``volseg study tiles``: the inference tiling of a model on the user's volume and device."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, get_args

import typer

from volseg.cli._app import ShowProgress
from volseg.cli._output import AsJson, emit
from volseg.cli._study import study_app
from volseg.errors import ConfigError
from volseg.tiling import WindowKind

# The defaults are the study's, resolved when it runs (volseg.study would load torch for
# every `volseg --help` and every shell completion); tests check the help quotes them.


def _numbers(text: str | None, option: str, kind: type) -> list | None:
    if text is None:
        return None
    try:
        values = [kind(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ConfigError(
            f"{option} takes comma-separated {kind.__name__}s, e.g. {option} "
            f"{'256,512' if kind is int else '0,0.125,0.25'}; got {text!r}"
        ) from None
    if not values:
        raise ConfigError(f"{option} is empty")
    return values


def _overlaps(text: str) -> list[float | int]:
    """Fractions below 1, pixels from 1 on, as ``volseg segment --overlap``."""
    values = _numbers(text, "--overlaps", float) or []
    for v in values:
        if v >= 1 and not v.is_integer():
            raise ConfigError(
                f"--overlaps: {v:g} is neither a fraction of the tile (< 1) nor whole pixels"
            )
    return [int(v) if v >= 1 else v for v in values]


@study_app.command("tiles")
def tiles(
    volume: Annotated[Path, typer.Argument(help="The volume store to measure on (VOLUME.zarr).")],
    model: Annotated[Path, typer.Option(help="Checkpoint (.pt) written by volseg train.")],
    out: Annotated[Path, typer.Option(help="Folder for tiles.json/.csv/.md/.png.")],
    truth: Annotated[
        Path | None,
        typer.Option(help="Ground truth of VOLUME (store, STORE/labels/NAME, .npy): adds IoU/BF1."),
    ] = None,
    truth_labels: Annotated[
        str | None, typer.Option(help="Labels group of --truth (default ground_truth).")
    ] = None,
    slices: Annotated[
        str | None,
        typer.Option(help="Slices to measure on, e.g. 0,5,9 (default: a few, evenly spaced)."),
    ] = None,
    tiles: Annotated[
        str | None,
        typer.Option(help="Tile edges in px, e.g. 256,512 (default: derived from model + device)."),
    ] = None,
    overlaps: Annotated[
        str | None,
        typer.Option(help="Overlaps: fractions of the tile (<1) or px (default 0,0.125,0.25)."),
    ] = None,
    windows: Annotated[
        str, typer.Option(help="Blending windows among gaussian, uniform, crop-centre.")
    ] = ",".join(get_args(WindowKind)),
    tolerance: Annotated[
        float | None,
        typer.Option(
            help="Largest fraction of labels that may differ from a single pass (default 0.001)."
        ),
    ] = None,
    iou_tolerance: Annotated[
        float | None,
        typer.Option(
            help="With --truth: largest IoU loss against the single pass (class --cls; "
            "default 0.002)."
        ),
    ] = None,
    cls: Annotated[
        str | None,
        typer.Option(help="Class of interest (name or index; default: the model's, else 1)."),
    ] = None,
    repeats: Annotated[int, typer.Option(help="Timed runs per setting (warm-up excluded).")] = 2,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    cache: Annotated[
        bool, typer.Option(help="Store the choice for `volseg segment --tile auto`.")
    ] = True,
    progress: ShowProgress = True,
    as_json: AsJson = False,
) -> None:
    """Sweep tile size x overlap x window; time each setting and compare its labels with a
    single pass; choose the fastest within tolerance and cache it for --tile auto."""
    from volseg.evaluate import parse_slices
    from volseg.io import VolumeStore
    from volseg.study._tile_rule import (
        DEFAULT_IOU_TOLERANCE,
        DEFAULT_OVERLAPS,
        DEFAULT_TOLERANCE,
    )
    from volseg.study._tiles import study_tiles
    from volseg.study._tiles_report import tile_table

    chosen_slices = None
    if slices is not None:
        chosen_slices = parse_slices(slices, VolumeStore.open(volume).image(0).shape[0])
    study = study_tiles(
        model,
        volume,
        tiles=_numbers(tiles, "--tiles", int),
        overlaps=list(DEFAULT_OVERLAPS) if overlaps is None else _overlaps(overlaps),
        windows=[w.strip() for w in windows.split(",") if w.strip()],
        slices=chosen_slices,
        truth=truth,
        truth_labels=truth_labels,
        cls=cls,
        device=device,
        tolerance=DEFAULT_TOLERANCE if tolerance is None else tolerance,
        iou_tolerance=DEFAULT_IOU_TOLERANCE if iou_tolerance is None else iou_tolerance,
        repeats=repeats,
        out=out,
        cache=cache,
        progress=progress,
    )
    text = [tile_table(study), f"report: {study.files['md']}  plot: {study.files['png']}"]
    emit({**study.to_dict(), "files": study.files}, text, as_json=as_json)
