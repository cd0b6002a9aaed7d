"""``volseg study``: the studies that choose how to train (crops) and how to tile (tiles)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from volseg.cli._app import ShowProgress, app
from volseg.cli._output import AsJson, emit

study_app = typer.Typer(
    help="Studies: training crop size x crop count (crops); inference tiling (tiles).",
    no_args_is_help=True,
)
app.add_typer(study_app, name="study")


@study_app.command("crops")
def crops(
    config: Annotated[Path, typer.Argument(help="YAML study config (see pipelines/).")],
    out: Annotated[str | None, typer.Option(help="Output folder (default: the config's).")] = None,
    seeds: Annotated[int | None, typer.Option(help="Repeat seeds per case.")] = None,
    budget: Annotated[
        str | None, typer.Option(help="Budget policy: epochs, steps or pixels.")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Existing dask scheduler address or scheduler file, or a SLURM config "
            "(.yaml: workers as SLURM jobs) (default: local)."
        ),
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Local cluster workers.")] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Forget the finished runs of a changed study and retrain all.")
    ] = False,
    progress: ShowProgress = True,
    as_json: AsJson = False,
) -> None:
    """Train one network per (crop size, crop count, seed) on dask, score each on held-out
    test images, and report heatmaps, curves, overlays and significance. Rerun to resume:
    finished runs are never trained again."""
    from volseg.study import load_study_config, run_crop_study

    cfg = load_study_config(
        config, out=out, seeds=seeds, budget=budget, scheduler=scheduler, workers=workers
    )
    _report("crops", run_crop_study(cfg, progress=progress, overwrite=overwrite), as_json)


@study_app.command("inputs")
def inputs(
    config: Annotated[Path, typer.Argument(help="YAML study config (see pipelines/).")],
    out: Annotated[str | None, typer.Option(help="Output folder (default: the config's).")] = None,
    seeds: Annotated[int | None, typer.Option(help="Seeds per recipe (paired).")] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Existing dask scheduler address or scheduler file, or a SLURM config "
            "(.yaml: workers as SLURM jobs) (default: local)."
        ),
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Local cluster workers.")] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Forget the finished runs of a changed study and retrain all.")
    ] = False,
    progress: ShowProgress = True,
    as_json: AsJson = False,
) -> None:
    """Train on whole images, on segmented images, and pretrained-on-segmented then
    fine-tuned on whole, R seeds each; compare them paired by seed on whole and segmented
    test images (paired bootstrap CI, Wilcoxon, Holm). Rerun to resume."""
    from volseg.study import load_input_study_config, run_input_study

    cfg = load_input_study_config(
        config, out=out, seeds=seeds, scheduler=scheduler, workers=workers
    )
    _report("inputs", run_input_study(cfg, progress=progress, overwrite=overwrite), as_json)


def _report(study: str, result: Any, as_json: bool) -> None:
    """Print a study's answer and report; exit 1 naming the runs that failed."""
    text = [result.answer] if result.answer else []
    if "report" in result.files:
        text.append(f"report: {result.files['report']}")
    summary = {
        "study": study,
        "ok": result.ok,
        "out": result.out,
        "answer": result.answer,
        "files": result.files,
        "runs": len(result.runs),
        "finished": len(result.records),
        "failed": result.failed,
        "executed": result.summary,  # what this invocation ran (None: nothing to run)
        "results": result.records,
    }
    emit(summary, text, as_json=as_json)
    if not result.ok:
        for key, error in result.failed.items():
            typer.secho(f"run {key} failed: {error}", fg="red", err=True)
        missing = len(result.runs) - len(result.records)
        typer.secho(
            f"{missing} of {len(result.runs)} runs not finished; rerun the same command to "
            "retry them (finished runs are kept)",
            fg="red",
            err=True,
        )
        raise typer.Exit(1)
