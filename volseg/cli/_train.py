"""``volseg train``: train a model from a YAML recipe (+ flags for the common knobs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from volseg.cli._app import app


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="YAML training config (see pipelines/).")],
    out: Annotated[str | None, typer.Option(help="Output folder.")] = None,
    model: Annotated[str | None, typer.Option(help="segnet, segnet-lite or unet-small.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs.")] = None,
    crops: Annotated[int | None, typer.Option(help="Random crops per epoch (N).")] = None,
    crop_size: Annotated[int | None, typer.Option(help="Crop size S in px.")] = None,
    full_image: Annotated[
        bool, typer.Option(help="Train on whole images (--crops of them per epoch), not crops.")
    ] = False,
    batch_size: Annotated[int | None, typer.Option(help="Batch size.")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of crops, augmentation, init.")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Train a segmentation model from random crops; keep the best checkpoint by validation
    IoU of the class of interest; write history and curves every epoch."""
    from volseg.train import load_config
    from volseg.train import train as run_train

    overrides = {
        "out": out,
        "model": model,
        "epochs": epochs,
        "crops": crops,
        "crop_size": crop_size,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "device": device,
        "threads": threads,
    }
    cfg = load_config(config, **overrides)
    if full_image:
        cfg = cfg.model_copy(update={"crop_size": None})
    result = run_train(cfg, progress=progress)
    coi = cfg.class_of_interest
    m = result.best_metrics
    typer.echo(
        f"trained {cfg.model} for {len(result.history)} epochs in "
        f"{result.seconds / 60:.1f} min; outputs in {result.out}"
    )
    ious = [(k.removeprefix("val_iou_"), v) for k, v in m.items() if k.startswith("val_iou_")]
    bf1s = [v for k, v in m.items() if k.startswith("val_bf1_")]
    if ious:
        cls_name, iou = ious[coi]
        typer.echo(
            f"best epoch {result.best_epoch}: validation IoU({cls_name}) {iou:.4f}, "
            f"BF1({cls_name}) {bf1s[coi]:.4f} -> {result.best_checkpoint}"
        )
