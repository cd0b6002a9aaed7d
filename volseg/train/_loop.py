"""The training loop: random crops, weighted cross-entropy, Adam/SGD, plateau schedule,
per-epoch validation, the best checkpoint by validation IoU of the class of interest."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch.utils.data import DataLoader

from volseg.errors import CheckpointError, ConfigError
from volseg.models import (
    Checkpoint,
    autocast,
    build_model,
    freeze_modules,
    frozen_modules,
    hold_frozen,
    load_checkpoint,
    resolve_device,
    save_checkpoint,
    trainable_parameters,
)
from volseg.runtime import default_workers
from volseg.train._augment import Augmentation
from volseg.train._config import DataConfig, TrainConfig
from volseg.train._crops import sample_crops
from volseg.train._data import SliceSet, check_slices, load_folder, load_store
from volseg.train._dataset import CropDataset
from volseg.train._history import History
from volseg.train._inputs import fill_value, region_masks, segment_inputs
from volseg.train._normalize import Normalization, fit_normalization
from volseg.train._validate import logit_offsets, validate
from volseg.train._weights import class_frequencies, class_weights, store_class_frequencies


@dataclass
class TrainResult:
    """Where a run wrote its outputs and how it ended."""

    out: Path
    best_checkpoint: Path | None
    last_checkpoint: Path
    best_epoch: int | None
    best_metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def load_slices(data: DataConfig, *, in_channels: int, classes: list[str] | None) -> SliceSet:
    """A folder (``images/`` + ``labels/``) or a volseg store's annotated slices."""
    source = Path(data.source)
    if (source / "zarr.json").is_file():
        sset = load_store(source, labels=data.labels, slices=data.slices, channels=in_channels)
    else:
        if in_channels != 1:
            raise ConfigError(
                f"{source} is a folder of 2D images: 2.5D input (in_channels="
                f"{in_channels}) needs a volume store"
            )
        sset = load_folder(source, classes=classes)
        if data.slices is not None:  # a subset of the folder's images, in sorted name order
            keep = check_slices(data.slices, len(sset), str(source))
            sset = SliceSet(
                [sset.images[i] for i in keep],
                [sset.labels[i] for i in keep],
                [sset.names[i] for i in keep],
                sset.classes,
                sset.source,
            )
    if classes is not None:
        if sset.num_classes > len(classes):
            raise ConfigError(
                f"{source} has {sset.num_classes} classes but classes names "
                f"{len(classes)}: {classes}"
            )
        sset = replace(sset, classes=list(classes))  # keeps the store's voxel size
    return sset


def _frequencies(data: DataConfig, sset: SliceSet) -> np.ndarray:
    """Class frequencies over the whole training data: with dask over a store's labels
    (the annotated slices), with numpy over the slices of a folder."""
    if (Path(data.source) / "zarr.json").is_file():
        freq = store_class_frequencies(data.source, labels=data.labels, slices=data.slices)
        return np.pad(freq, (0, max(0, sset.num_classes - len(freq))))[: sset.num_classes]
    return class_frequencies(sset)


def _check_init(init: Checkpoint, config: TrainConfig, *, arguments: dict[str, Any]) -> None:
    """The checkpoint to fine-tune must be the architecture the config builds."""
    want = {**arguments, **config.model_arguments}
    have = {k: init.arguments.get(k) for k in want}
    if init.architecture != config.model or have != want:
        raise ConfigError(
            f"init {init.path} is {init.architecture} {init.arguments}, but this run builds "
            f"{config.model} {want}; fine-tune with the same model and arguments"
        )


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def train(config: TrainConfig, *, progress: bool = True) -> TrainResult:
    """Train a model as ``config`` says; write checkpoints, history and curves to ``out``.

    Outputs in ``config.out``: ``config.yaml`` (resolved), ``best.pt`` (best validation IoU
    of the class of interest), ``last.pt``, ``history.csv``/``.json`` and ``curves.png``
    (updated every epoch), ``summary.json``.

    Parameters
    ----------
    config
        The run: data, model, crops, budget, optimizer, seed (:func:`load_config` reads it
        from YAML, ``make_config`` from a dict).
    progress
        Show a progress bar.

    Returns
    -------
    TrainResult
        ``out``, ``best_checkpoint`` (``None`` without validation data), ``last_checkpoint``,
        ``best_epoch``, ``best_metrics``, the per-epoch ``history`` and ``seconds``.
    """
    start = time.perf_counter()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    config.to_yaml(out / "config.yaml")
    _seed_everything(config.seed)
    device = resolve_device(config.device)
    if device.type == "cpu":
        torch.set_num_threads(config.threads or default_workers())

    train_set = load_slices(config.train, in_channels=config.in_channels, classes=config.classes)
    val_set = (
        load_slices(config.validation, in_channels=config.in_channels, classes=train_set.classes)
        if config.validation
        else None
    )
    k = train_set.num_classes
    if not 0 <= config.class_of_interest < k:
        raise ConfigError(
            f"class_of_interest {config.class_of_interest} is outside the "
            f"{k} classes {train_set.classes}"
        )
    inputs: dict[str, Any] = {"variant": config.inputs.variant}
    if config.inputs.variant == "segmented":
        value = fill_value([train_set], config.inputs)
        train_set = segment_inputs(
            train_set,
            region_masks(train_set, config.inputs, store_slices=config.train.slices),
            value,
        )
        if val_set is not None and config.validation is not None:
            val_set = segment_inputs(
                val_set,
                region_masks(val_set, config.inputs, store_slices=config.validation.slices),
                value,
            )
        inputs = {**config.inputs.model_dump(mode="json"), "fill_value": value}
    init = load_checkpoint(config.init) if config.init else None
    if init is not None:  # fine-tuning keeps the normalization the weights were trained with
        if init.info.normalization is None:
            raise CheckpointError(
                f"checkpoint {config.init} has no input normalization, which fine-tuning "
                "keeps; start from a checkpoint volseg trained"
            )
        norm = Normalization(*init.info.normalization)
    else:
        norm = fit_normalization([train_set])
    freq = _frequencies(config.train, train_set)
    weights = torch.as_tensor(class_weights(freq, method=config.class_weights))
    specs = sample_crops(
        [lab.shape for lab in train_set.labels],
        size=config.crop_size,
        count=config.crops,
        seed=config.seed,
    )
    aug = Augmentation(**config.augmentation.model_dump())
    dataset = CropDataset(train_set, specs, augmentation=aug, normalization=norm, seed=config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    loader = DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=True,
        generator=gen,
        num_workers=0,
        drop_last=False,
    )

    model = build_model(
        config.model, in_channels=config.in_channels, num_classes=k, **config.model_arguments
    ).to(device)
    frozen: list[str] = []
    if init is not None:
        _check_init(init, config, arguments={"in_channels": config.in_channels, "num_classes": k})
        model.load_state_dict(init.model.state_dict())
    if config.freeze is not None:
        frozen = frozen_modules(model, config.freeze)
        freeze_modules(model, frozen)
    fmt = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    model = model.to(memory_format=fmt)  # type: ignore[call-overload]  # missing torch stub
    if config.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(
            trainable_parameters(model), lr=config.lr, weight_decay=config.weight_decay
        )
    else:
        opt = torch.optim.SGD(
            trainable_parameters(model),
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=config.lr_factor, patience=config.lr_patience
    )
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights.to(device))
    offsets = logit_offsets(weights) if config.prior_correction else None
    history = History(out, classes=train_set.classes)
    meta_base = {
        "classes": train_set.classes,
        "normalization": norm.to_dict(),
        "voxel_size": getattr(train_set, "voxel_size", None),
        "training": config.resolved(),
        "class_weights": weights.tolist(),
        "logit_offsets": offsets.tolist() if offsets is not None else None,
        "class_frequencies": [float(f) for f in freq],
        "train_source": train_set.source,
        "inputs": inputs,
        "init": {"path": str(init.path), "sha256": init.sha256} if init is not None else None,
        "frozen": frozen,
    }
    arguments = {"in_channels": config.in_channels, "num_classes": k, **config.model_arguments}
    best_iou, best_epoch, best_metrics, stale = -math.inf, None, {}, 0
    steps = min(config.epochs * len(loader), config.max_steps or config.epochs * len(loader))
    epochs = math.ceil(steps / len(loader))
    columns = (
        TextColumn("[bold]train"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("epoch {task.fields[epoch]} loss {task.fields[loss]:.4f}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    step, stop = 0, False
    # train loss/accuracy/seconds of a history row: since the previous validation point
    loss_sum, n, correct, seen, t0 = 0.0, 0, 0, 0, time.perf_counter()
    with Progress(*columns, disable=not progress, console=Console(stderr=True)) as bar:
        task = bar.add_task("train", total=steps, epoch=0, loss=float("nan"))
        for epoch in range(1, epochs + 1):
            dataset.set_epoch(epoch)
            model.train()
            hold_frozen(model, frozen)
            for i, (x, y) in enumerate(loader, start=1):
                x = x.to(device, memory_format=fmt, non_blocking=True)
                y = y.to(device, non_blocking=True)
                opt.zero_grad(set_to_none=True)
                with autocast(device):
                    logits = model(x)
                    loss = loss_fn(logits.float(), y)
                loss.backward()
                opt.step()
                step += 1
                loss_sum += float(loss.detach()) * len(x)
                n += len(x)
                correct += int((logits.argmax(1) == y).sum())
                seen += y.numel()
                bar.update(task, advance=1, epoch=epoch, loss=loss_sum / n)
                # a validation point: every `validate_every` steps (else after each epoch),
                # and after the last step
                every = config.validate_every
                if not (
                    step == steps
                    or (every and step % every == 0)
                    or (not every and i == len(loader))
                ):
                    continue
                row: dict[str, Any] = {
                    "epoch": epoch,
                    "step": step,
                    "lr": opt.param_groups[0]["lr"],
                    "train_loss": loss_sum / max(n, 1),
                    "train_accuracy": correct / max(seen, 1),
                    "train_seconds": time.perf_counter() - t0,
                }
                loss_sum, n, correct, seen, t0 = 0.0, 0, 0, 0, time.perf_counter()
                if val_set is not None:
                    v = validate(
                        model,
                        val_set,
                        norm,
                        weights=weights,
                        device=device,
                        tolerance=config.bf1_tolerance,
                        logit_offsets=offsets,
                    )
                    model.train()
                    hold_frozen(model, frozen)
                    row.update({"val_loss": v.loss, "val_accuracy": v.accuracy})
                    row.update({f"val_iou_{c}": v.iou[j] for j, c in enumerate(train_set.classes)})
                    row.update({f"val_bf1_{c}": v.bf1[j] for j, c in enumerate(train_set.classes)})
                    sched.step(v.loss)
                    score = v.iou[config.class_of_interest]
                else:
                    sched.step(row["train_loss"])
                    score = -row["train_loss"]
                history.append(row)
                metrics = {k2: v2 for k2, v2 in row.items() if k2 != "train_seconds"}
                if score > best_iou:
                    best_iou, best_epoch, best_metrics, stale = score, epoch, metrics, 0
                    save_checkpoint(
                        out / "best.pt",
                        model,
                        architecture=config.model,
                        arguments=arguments,
                        metadata={**meta_base, "metrics": metrics, "epoch": epoch, "step": step},
                    )
                else:
                    stale += 1
                if step == steps or (
                    config.early_stopping is not None and stale >= config.early_stopping
                ):
                    stop = True
                    break
            if stop:
                break
    save_checkpoint(
        out / "last.pt",
        model,
        architecture=config.model,
        arguments=arguments,
        metadata={**meta_base, "metrics": history.rows[-1], "epoch": epoch, "step": step},
    )
    result = TrainResult(
        out=out,
        best_checkpoint=out / "best.pt" if best_epoch else None,
        last_checkpoint=out / "last.pt",
        best_epoch=best_epoch,
        best_metrics=best_metrics,
        history=history.rows,
        seconds=time.perf_counter() - start,
    )
    history.write_summary(
        best_epoch=best_epoch,
        best_metrics=best_metrics,
        seconds=result.seconds,
        class_of_interest=config.class_of_interest,
    )
    return result
