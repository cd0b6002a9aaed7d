"""``volseg classify``: soma vs vessel for the 3D objects of a segmentation.

``volseg classify SEGMENTED.zarr --classifier F --out DIR`` labels the objects;
``volseg classify train SEGMENTED.zarr --truth GT.zarr --out F`` trains the classifier.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from volseg.cli._app import ShowProgress, app, parse_triple
from volseg.cli._output import AsJson, emit


class _DefaultApply(TyperGroup):
    """``volseg classify STORE ...`` runs ``apply``; ``volseg classify train ...`` trains."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["apply", *args]
        return super().parse_args(ctx, args)


classify_app = typer.Typer(
    cls=_DefaultApply,
    help="Soma vs vessel: classify the 3D objects of a segmentation (and train the classifier).",
    no_args_is_help=True,
)
app.add_typer(classify_app, name="classify")

Scheduler = Annotated[
    str | None,
    typer.Option(
        help="Existing dask scheduler address or scheduler file, or a SLURM config "
        "(.yaml: workers as SLURM jobs) (default: local)."
    ),
]
NeckRatio = Annotated[
    float | None,
    typer.Option(
        help="Cut objects where a neck is below this fraction of the thinner part (default 0.6)."
    ),
]
Split = Annotated[bool, typer.Option(help="Cut merged objects at their necks.")]
MinVoxels = Annotated[int, typer.Option(help="Drop smaller objects (dust).")]


@classify_app.command("apply")
def apply(
    segmented: Annotated[
        Path, typer.Argument(help="A segmented store (volseg segment's OUT.zarr).")
    ],
    classifier: Annotated[Path, typer.Option(help="Classifier file from volseg classify train.")],
    out: Annotated[Path, typer.Option(help="Output folder (classified.zarr, object table).")],
    labels: Annotated[str, typer.Option(help="Label image of class ids.")] = "segmentation",
    min_voxels: Annotated[
        int | None, typer.Option(help="Drop smaller objects (default: as trained).")
    ] = None,
    neck_ratio: Annotated[
        float | None, typer.Option(help="Neck ratio of the cut (default: as trained).")
    ] = None,
    split: Annotated[
        bool | None, typer.Option("--split/--no-split", help="Cut at necks (default: as trained).")
    ] = None,
    block: Annotated[
        str | None, typer.Option(help="Block shape Z,Y,X (whole chunks; default: derived).")
    ] = None,
    scheduler: Scheduler = None,
    workers: Annotated[int | None, typer.Option(help="Local worker processes.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier run's outputs.")] = False,
    progress: ShowProgress = True,
    as_json: AsJson = False,
) -> None:
    """Label every object of a segmentation soma or vessel, with a probability."""
    from volseg.classify import classify

    result = classify(
        segmented,
        classifier,
        out,
        labels=labels,
        min_voxels=min_voxels,
        neck_ratio=neck_ratio,
        split=split,
        block_shape=parse_triple(block, "--block"),
        scheduler=scheduler,
        n_workers=workers,
        resume=resume,
        overwrite=overwrite,
        progress=progress,
    )
    summary: dict[str, object] = {
        "ok": result.ok,
        "out": result.out_dir,
        "store": result.store,
        "classified": f"{result.store}/labels/classified",
        "objects_labels": f"{result.store}/labels/objects",
        "table": {"parquet": result.parquet, "csv": result.csv},
        "blocks": result.summary,
        "seconds": result.seconds,
    }
    if not result.ok:
        if as_json:
            emit(summary, [], as_json=True)
        typer.secho(str(result.summary), fg="red", err=True)
        raise typer.Exit(1)
    classes = {c: result.count(c) for c in sorted(set(result.table["class"]))}
    summary |= {
        "objects": len(result.table),
        "classes": classes,
        "components": result.n_components,
        "split": result.n_split,
    }
    counts = ", ".join(f"{n} {c}" for c, n in classes.items())
    text = [
        f"{len(result.table)} objects ({counts or 'none'}) from {result.n_components} "
        f"components, {result.n_split} cut at necks, in {result.seconds:.1f} s",
        f"  classes   {result.store}/labels/classified",
        f"  objects   {result.store}/labels/objects",
        f"  table     {result.parquet}  {result.csv}",
        f"open in napari: napari --plugin napari-ome-zarr {result.store}",
    ]
    emit(summary, text, as_json=as_json)


@classify_app.command("train")
def train(
    segmented: Annotated[Path, typer.Argument(help="A segmented store to learn from.")],
    truth: Annotated[Path, typer.Option(help="Store with the ground-truth class labels.")],
    out: Annotated[Path, typer.Option(help="Classifier file to write (e.g. classifier.vsclf).")],
    labels: Annotated[str, typer.Option(help="Label image of the segmentation.")] = "segmentation",
    truth_labels: Annotated[
        str, typer.Option(help="Label image of the ground truth.")
    ] = "ground_truth",
    classes: Annotated[
        str | None, typer.Option(help="Object classes, e.g. soma,vessel (default: the truth's).")
    ] = None,
    slices: Annotated[
        str | None,
        typer.Option(help="Annotated slices of the truth, e.g. 0,4,8 or 0-60:4 (default: all)."),
    ] = None,
    min_voxels: MinVoxels = 0,
    neck_ratio: NeckRatio = None,
    split: Split = True,
    seed: Annotated[int, typer.Option(help="Seed of the learner.")] = 0,
    scheduler: Scheduler = None,
    workers: Annotated[int | None, typer.Option(help="Local worker processes.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
    progress: ShowProgress = True,
    as_json: AsJson = False,
) -> None:
    """Train the soma/vessel classifier from a segmentation and (sparse) ground truth."""
    from volseg.classify import DEFAULT_NECK_RATIO, train_classifier
    from volseg.evaluate import parse_slices
    from volseg.io import VolumeStore

    annotated = None
    if slices is not None:
        depth = VolumeStore.open(truth).labels(truth_labels).shape[0]
        annotated = parse_slices(slices, depth)

    result = train_classifier(
        segmented,
        truth,
        out,
        labels=labels,
        truth_labels=truth_labels,
        classes=None if classes is None else [c.strip() for c in classes.split(",")],
        slices=annotated,
        min_voxels=min_voxels,
        neck_ratio=DEFAULT_NECK_RATIO if neck_ratio is None else neck_ratio,
        split=split,
        seed=seed,
        scheduler=scheduler,
        n_workers=workers,
        overwrite=overwrite,
        progress=progress,
    )
    used = ", ".join(f"{n} {c}" for c, n in result.n_used.items())
    text = [
        f"classifier trained on {used} objects ({result.n_unannotated} on no annotated "
        f"slice and {result.n_false} false detections left out) in {result.seconds:.1f} s",
        f"  classifier      {result.path}  (sha256 {result.classifier.sha256[:16]}…)",
        f"  training table  {result.table_path}",
    ]
    summary = {
        "classifier": result.path,
        "sha256": result.classifier.sha256,
        "table": result.table_path,
        "objects": result.n_objects,
        "used": result.n_used,
        "unannotated": result.n_unannotated,
        "false_detections": result.n_false,
        "seconds": result.seconds,
    }
    emit(summary, text, as_json=as_json)
