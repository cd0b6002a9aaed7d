"""The inference tiling study: tile size x overlap x blending window on the user's volume and
device, timed and compared with a single pass; the fastest setting within a tolerance is
cached for ``volseg segment --tile auto``."""

from __future__ import annotations

import datetime as dt
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import dask.array as da
import numpy as np
import torch

from volseg.errors import ConfigError, InputError
from volseg.evaluate import LabelVolume, evaluate_volumes, open_label_volume
from volseg.geometry import Box
from volseg.infer import (
    BlockPredictor,
    InferencePlan,
    TileChoice,
    device_name,
    plane_bucket,
    resolve_device,
    single_pass_tile,
    store_tile_choice,
)
from volseg.io import VolumeStore, strict_image
from volseg.models import Checkpoint, load_checkpoint
from volseg.runtime._progress import count_bar
from volseg.study._tile_rule import (
    DEFAULT_IOU_TOLERANCE,
    DEFAULT_OVERLAPS,
    DEFAULT_TOLERANCE,
    WINDOWS,
    choice_rule,
    choose_tiling,
    default_tiles,
    sample_slices,
)
from volseg.study._tiles_report import SKIP, TileStudy, write_tile_study
from volseg.tiling import (
    Device,
    WindowKind,
    check_tile,
    derive_tiling,
)

__all__ = ["TileStudy", "study_tiles"]


@dataclass(frozen=True)
class _Setting:
    tile: int
    overlap: int
    window: WindowKind
    reference: bool = False

    @property
    def name(self) -> str:
        if self.reference:
            return "single pass"
        return f"{self.tile}/{self.overlap}/{self.window}"


def _settings(
    ckpt: Checkpoint,
    plane: tuple[int, int],
    device: Device,
    tiles: Sequence[int] | None,
    overlaps: Sequence[float | int],
    windows: Sequence[str],
) -> list[_Setting]:
    """Every (tile, overlap px, window) to measure, checked before any work is done."""
    a = ckpt.alignment
    whole = single_pass_tile(plane, a)
    for w in windows:
        if w not in WINDOWS:
            raise ConfigError(f"unknown window {w!r}; choose from {', '.join(WINDOWS)}")
    if tiles is None:
        tiles = default_tiles(alignment=a, device=device, plane=plane)
    for t in tiles:
        check_tile(t, a)
        if t > whole:
            raise ConfigError(
                f"tile {t} is larger than the slices ({plane[0]} x {plane[1]}), which one tile "
                f"of {whole} px covers; use tiles up to {whole}"
            )
    out = [_Setting(whole, 0, "uniform", reference=True)]
    for t in sorted(set(tiles)):
        for o in overlaps:
            _, px = derive_tiling(alignment=a, tile=t, overlap=o, device=device)
            for w in windows:
                s = _Setting(t, px, cast(WindowKind, w))
                if s not in out:
                    out.append(s)
    return out


def _class_of_interest(ckpt: Checkpoint, classes: list[str], cls: int | str | None) -> int:
    if cls is None:
        training = ckpt.metadata.get("training") or {}
        cls = int(training.get("class_of_interest", 1 if len(classes) > 1 else 0))
    if isinstance(cls, str):
        if cls in classes:
            return classes.index(cls)
        if not cls.isdigit():
            raise ConfigError(f"class {cls!r} is not one of the model's classes {classes}")
        cls = int(cls)
    if not 0 <= cls < len(classes):
        raise ConfigError(f"class {cls} is outside the model's classes 0..{len(classes) - 1}")
    return cls


def _truth_slices(
    truth: str | os.PathLike[str],
    labels: str | None,
    shape: tuple[int, ...],
    slices: list[int],
    num_classes: int,
    cls: tuple[int, str],
) -> np.ndarray:
    gt = open_label_volume(Path(truth), labels=labels, role="ground truth")
    if tuple(gt.data.shape) != tuple(shape):
        raise InputError(
            f"ground truth {gt.source} has shape {tuple(gt.data.shape)} but the volume has "
            f"{tuple(shape)}; give the truth of this volume"
        )
    values = np.asarray(gt.data[slices])
    if int(values.max()) >= num_classes:
        raise InputError(
            f"ground truth {gt.source} holds label {int(values.max())} but the model has "
            f"{num_classes} classes"
        )
    if not (values == cls[0]).any():
        raise InputError(
            f"ground truth {gt.source} has no {cls[1]!r} pixel on slices {slices}; choose "
            "slices that show it with --slices"
        )
    return values


def _scores(labels: np.ndarray, truth: np.ndarray, classes: list[str]) -> dict[str, float]:
    """IoU and BF1 (2 px) of every class, as ``volseg evaluate`` computes them."""
    ev = evaluate_volumes(
        LabelVolume(da.from_array(labels, chunks=(1, -1, -1)), "tiled labels"),
        LabelVolume(da.from_array(truth, chunks=(1, -1, -1)), "ground truth"),
        slices=list(range(labels.shape[0])),
        classes=classes,
        num_workers=1,
        progress=False,
    )
    out = {f"iou_{c}": ev.iou[i] for i, c in enumerate(classes)}
    out.update({f"bf1_{c}": ev.bf1[i] for i, c in enumerate(classes)})
    return out


def _timed(
    run: Callable[[], tuple[np.ndarray, int]], repeats: int, *, warm_up: bool
) -> tuple[np.ndarray, int, float]:
    """A warm-up run when asked (the first pass of a new input shape selects kernels and
    allocates), then the best of ``repeats`` runs: the minimum is the time least disturbed
    by other work on the machine. Every run gives the same labels."""
    out = run() if warm_up else None
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - t0)
        out = out or result
    assert out is not None
    return out[0], out[1], best


def study_tiles(
    model: str | os.PathLike[str],
    volume: str | os.PathLike[str],
    *,
    tiles: Sequence[int] | None = None,
    overlaps: Sequence[float | int] = DEFAULT_OVERLAPS,
    windows: Sequence[str] = WINDOWS,
    slices: Sequence[int] | None = None,
    truth: str | os.PathLike[str] | None = None,
    truth_labels: str | None = None,
    cls: int | str | None = None,
    device: str = "auto",
    tolerance: float = DEFAULT_TOLERANCE,
    iou_tolerance: float = DEFAULT_IOU_TOLERANCE,
    repeats: int = 2,
    out: str | os.PathLike[str] | None = None,
    cache: bool = True,
    progress: bool = True,
) -> TileStudy:
    """Sweep tile size x overlap x window on sample slices of a volume; choose and cache one.

    Every setting runs the predictor ``volseg segment`` runs
    (:meth:`volseg.infer.InferencePlan.resolve`: the context and batch size derived
    as there, constant tiles skipped) over the sample slices as one block: ``repeats`` timed
    runs, of which the fastest counts, after a warm-up run for each new forward-pass shape.
    Its labels are compared with a single pass (one tile covering each whole slice, no
    overlap, the derived context), which is also a candidate.

    Parameters
    ----------
    model : str or os.PathLike
        Checkpoint written by ``volseg train``.
    volume : str or os.PathLike
        A complete volume store.
    tiles : sequence of int, optional
        Tile edges (multiples of the model alignment, at most the slice); default
        :func:`default_tiles`.
    overlaps : sequence of float or int
        Fractions of the tile (< 1) or px, as ``volseg segment --overlap``.
    windows : sequence of {"gaussian", "uniform", "crop-centre"}
        Blending windows.
    slices : sequence of int, optional
        Slices to measure on; default :func:`sample_slices`.
    truth, truth_labels : optional
        Ground truth of the volume (a store, ``STORE/labels/NAME``, ``.npy`` or zarr array)
        and its labels group; adds IoU and BF1 (2 px) of every class and the IoU criterion.
    cls : int or str, optional
        Class of interest of the IoU criterion; default the checkpoint's training choice,
        else 1.
    device : {"auto", "cpu", "cuda"}
        Where to run and time.
    tolerance : float
        Largest fraction of labels the chosen setting may change (default 0.1 %).
    iou_tolerance : float
        With truth: how far below the single pass's IoU the chosen setting may score.
    repeats : int
        Timed runs per setting (warm-up runs excluded).
    out : str or os.PathLike, optional
        Folder for ``tiles.json``, ``tiles.csv``, ``tiles.md`` and ``tiles.png``.
    cache : bool
        Store the choice for ``volseg segment --tile auto`` (:func:`volseg.infer.tile_cache_path`).
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    TileStudy
        One row per setting (the single pass first: tile, overlap, window, time, voxels/s,
        disagreement, and IoU/BF1 with truth) and the ``choice``.

    Raises
    ------
    InputNotFoundError, CheckpointError
        A missing or unusable checkpoint.
    ConfigError
        A tile that is not a multiple of the model alignment or larger than the slice, an
        unknown window, an overlap out of range, tolerances or repeats out of range.
    InputError
        Slices outside the volume; truth of another shape, with labels beyond the model's
        classes, or without the class of interest on the sample slices.
    """
    if not 0.0 <= tolerance < 1.0:
        raise ConfigError(f"tolerance must be a fraction in [0, 1), got {tolerance}")
    if not iou_tolerance >= 0.0:
        raise ConfigError(f"iou_tolerance must be >= 0, got {iou_tolerance}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"repeats must be a positive integer, got {repeats!r}")
    dev = resolve_device(device)
    kind: Device = "cuda" if dev.type == "cuda" else "cpu"
    ckpt = load_checkpoint(model)
    store = VolumeStore.open(Path(volume))
    store.require_complete()
    image = strict_image(store.image(0))  # a damaged chunk is an error naming its key
    shape = tuple(int(s) for s in image.shape)
    plane = (shape[1], shape[2])
    settings = _settings(ckpt, plane, kind, tiles, overlaps, windows)
    chosen_slices = sorted(set(slices)) if slices else sample_slices(shape[0], plane, device=kind)
    bad = [z for z in chosen_slices if not 0 <= z < shape[0]]
    if bad:
        raise InputError(f"slice {bad[0]} is outside the volume's 0..{shape[0] - 1}")
    classes = list(ckpt.info.classes)
    coi = _class_of_interest(ckpt, classes, cls)
    gt = None
    if truth is not None:
        gt = _truth_slices(
            truth, truth_labels, shape, chosen_slices, ckpt.num_classes, (coi, classes[coi])
        )
    sample = np.stack([image[z] for z in chosen_slices])
    box = Box.from_shape(sample.shape)
    reference: np.ndarray | None = None
    rows: list[dict[str, Any]] = []
    warm: set[tuple[int, int]] = set()
    with count_bar(enabled=progress, unit="settings") as bar:
        task = bar.add_task("study tiles", total=len(settings))
        for s in settings:
            # resolved as `volseg segment` resolves a block of these slices (one tile per
            # pass for the reference)
            plan = InferencePlan.resolve(
                ckpt,
                volume_shape=sample.shape,
                device=kind,
                tile=s.tile,
                overlap=s.overlap,
                window=s.window,
                batch_size=1 if s.reference else None,
                block=box,
                skip="none" if s.reference else SKIP,
                compiled=False,  # eager: each tile size would compile anew
            )
            context, batch = plan.context, plan.batch_size
            predictor = BlockPredictor(ckpt.model, plan)

            def run(p: BlockPredictor = predictor) -> tuple[np.ndarray, int]:
                result = p.predict(box, sample, box)
                return result.labels, result.stats.tiles_run

            forward = (batch, s.tile + 2 * context)  # the shape of every forward pass
            labels, tiles_run, seconds = _timed(run, repeats, warm_up=forward not in warm)
            warm.add(forward)
            if reference is None:
                reference = labels
            row: dict[str, Any] = {
                "setting": s.name,
                "reference": s.reference,
                "tile": s.tile,
                "overlap": s.overlap,
                "window": s.window,
                "context": context,
                "batch_size": batch,
                "tiles": tiles_run,
                "voxels": int(labels.size),
                "seconds": seconds,
                "voxels_per_s": labels.size / seconds,
                "disagreement": float(np.mean(labels != reference)),
            }
            if gt is not None:
                row.update(_scores(labels, gt, classes))
            rows.append(row)
            bar.advance(task)
    iou_key = f"iou_{classes[coi]}" if gt is not None else None
    chosen = choose_tiling(rows, tolerance=tolerance, iou=iou_key, iou_tolerance=iou_tolerance)
    for i, row in enumerate(rows):
        row["within_tolerance"] = row["disagreement"] <= tolerance
        row["chosen"] = i == chosen
    study = TileStudy(
        model=str(Path(model).resolve()),
        sha256=ckpt.sha256,
        volume=str(Path(volume).resolve()),
        shape=(shape[0], shape[1], shape[2]),
        slices=chosen_slices,
        device=kind,
        device_name=device_name(dev),
        classes=classes,
        class_of_interest=coi,
        rows=rows,
        chosen=chosen,
        tolerance=tolerance,
        iou_tolerance=iou_tolerance if gt is not None else None,
        truth=str(truth) if truth is not None else None,
        repeats=repeats,
        torch_threads=torch.get_num_threads(),
        created=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        rule=choice_rule(
            tolerance, classes[coi] if gt is not None else None, iou_tolerance, repeats
        ),
    )
    if out is not None:
        study.out = Path(out)
    if cache:
        c = study.choice
        report = study.out / "tiles.json" if study.out is not None else None
        study.cache = store_tile_choice(
            TileChoice(
                sha256=study.sha256,
                device=study.device_name,
                plane=plane_bucket(plane),
                tile=c["tile"],
                overlap=c["overlap"],
                context=c["context"],
                window=c["window"],
                voxels_per_s=c["voxels_per_s"],
                disagreement=c["disagreement"],
                created=study.created,
                study=str(report.resolve()) if report is not None else None,
            )
        )
    if study.out is not None:
        study.files = write_tile_study(study, study.out)
    return study
