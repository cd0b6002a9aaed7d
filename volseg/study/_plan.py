"""The runs of a crop study: cases (size x count) x seeds, each a resolved training config
with its budget worked out, and the layout shared by all runs (what a finished run's
validity rests on)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from volseg.errors import ConfigError
from volseg.study._config import (
    EXECUTION,
    PER_RUN,
    CropSize,
    StudyConfig,
    make_train_config,
)
from volseg.train import TrainConfig


@dataclass(frozen=True)
class Case:
    """One cell of the grid: crop ``size`` (px or ``"full"``) x crop ``count``."""

    size: CropSize
    count: int

    @property
    def name(self) -> str:
        return f"{self.size} x {self.count}"

    @property
    def key(self) -> str:
        return f"s{self.size}-n{self.count}"

    def fields(self) -> dict[str, Any]:
        """The case's columns in the results table."""
        return {"size": str(self.size), "count": self.count}


@dataclass(frozen=True)
class Recipe:
    """One recipe of the inputs study: ``whole``, ``segmented`` or ``finetune``."""

    recipe: str

    @property
    def name(self) -> str:
        return self.recipe

    @property
    def key(self) -> str:
        return self.recipe

    def fields(self) -> dict[str, Any]:
        return {"recipe": self.recipe}


@dataclass(frozen=True)
class Budget:
    """How much one run trains: optimizer ``steps`` over ``epochs`` (the last may be
    partial), ``crops_seen`` crops and ``pixels_seen`` pixels in all."""

    steps: int
    epochs: int
    crops_seen: int
    pixels_seen: int
    validate_every: int | None


@dataclass(frozen=True)
class StudyRun:
    """One training run of the study: a case and a seed, its resolved training config (its
    ``train`` folder is ``OUT/runs/<key>/train``) and budget.

    ``id`` is a stable integer from ``key``: the done ledger keeps it across grid changes.
    """

    case: Case | Recipe
    seed: int
    config: TrainConfig
    budget: Budget

    @property
    def key(self) -> str:
        return f"{self.case.key}-r{self.seed}"

    @property
    def id(self) -> int:
        return int(hashlib.sha256(self.key.encode()).hexdigest()[:12], 16)

    @property
    def name(self) -> str:
        return f"run {self.case.name} seed {self.seed}"

    @property
    def folder(self) -> Path:
        return Path(self.config.out).parent


def budget(config: StudyConfig, case: Case, *, batch_size: int, crop_pixels: float) -> Budget:
    """The steps, epochs and pixels of a run of ``case`` under the study's budget policy.

    ``crop_pixels`` is the pixel count of one crop (``size**2``, or the mean slice area for
    whole images). Under ``steps`` and ``pixels`` the run validates ``config.validations``
    times at equal step intervals; under ``epochs``, after every epoch.
    """
    per_epoch = math.ceil(case.count / batch_size)
    every: int | None = None
    if config.budget == "epochs":
        steps = config.epochs * per_epoch
    else:
        if config.budget == "steps":
            assert config.steps is not None  # checked by the config
            steps = config.steps
        else:
            assert config.pixels is not None
            steps = max(1, round(config.pixels / (batch_size * crop_pixels)))
        every = max(1, math.ceil(steps / config.validations))
    return steps_budget(
        steps, count=case.count, batch_size=batch_size, crop_pixels=crop_pixels, every=every
    )


def steps_budget(
    steps: int, *, count: int, batch_size: int, crop_pixels: float, every: int | None
) -> Budget:
    """The :class:`Budget` of ``steps`` optimizer steps over epochs of ``count`` crops."""
    per_epoch = math.ceil(count / batch_size)
    full, part = divmod(steps, per_epoch)
    crops = full * count + min(count, part * batch_size)
    return Budget(
        steps=steps,
        epochs=math.ceil(steps / per_epoch),
        crops_seen=crops,
        pixels_seen=round(crops * crop_pixels),
        validate_every=every,
    )


def plan_study(
    config: StudyConfig,
    *,
    shapes: Sequence[tuple[int, int]],
) -> list[StudyRun]:
    """Every (case, seed) run of ``config``, cases in grid order, seeds innermost.

    Parameters
    ----------
    shapes
        ``(H, W)`` of the training slices: crop sizes are checked against them and whole
        images counted by their mean area.

    Raises
    ------
    ConfigError
        A crop size larger than a training slice, or whole images of different shapes with
        a batch larger than 1.
    """
    recipe = config.recipe_config()
    smallest = min(min(s) for s in shapes)
    for size in config.sizes:
        if size != "full" and size > smallest:
            h, w = min(shapes, key=min)
            raise ConfigError(
                f"crop size {size} px is larger than the training images ({h} x {w} px is "
                f"the smallest); use sizes of at most {smallest} px, or 'full' for whole images"
            )
    if "full" in config.sizes and len(set(shapes)) > 1 and recipe.batch_size > 1:
        raise ConfigError(
            f"crop size 'full' with batch_size {recipe.batch_size}: the training images have "
            f"different shapes ({sorted(set(shapes))[:3]}...); set recipe batch_size: 1"
        )
    mean_area = sum(h * w for h, w in shapes) / len(shapes)
    runs = []
    root = Path(config.out).resolve() / "runs"
    for size in config.sizes:
        for count in config.counts:
            case = Case(size, count)
            b = budget(
                config,
                case,
                batch_size=recipe.batch_size,
                crop_pixels=mean_area if size == "full" else float(size) ** 2,
            )
            for seed in range(config.seeds):
                out = root / f"{case.key}-r{seed}" / "train"
                train = make_train_config(
                    {
                        **recipe.model_dump(),
                        "out": str(out),
                        "crop_size": None if size == "full" else size,
                        "crops": count,
                        "seed": seed,
                        "epochs": b.epochs,
                        "max_steps": b.steps,
                        "validate_every": b.validate_every,
                    },
                    f"run {case.key}-r{seed}",
                )
                runs.append(StudyRun(case, seed, train, b))
    return runs


def study_layout(
    config: StudyConfig, *, test_identity: dict[str, Any], scoring: dict[str, Any]
) -> dict[str, Any]:
    """What every run's result rests on, grid aside: the shared recipe and data, the budget
    policy, the test images and the scoring. Stored with the done ledger: a study whose
    layout changed is refused (naming what changed); a larger grid only adds runs."""
    return {
        "recipe": recipe_layout(config.recipe_config(), exclude=(*EXECUTION, *PER_RUN)),
        "data": data_layout(config.recipe_config()),
        "budget": {
            "policy": config.budget,
            **{k: getattr(config, k) for k in ("epochs", "steps", "pixels", "validations")},
        },
        "test": test_identity,
        "scoring": scoring,
    }


def recipe_layout(recipe: TrainConfig, *, exclude: Sequence[str]) -> dict[str, Any]:
    """The recipe options that differ from :class:`TrainConfig`'s defaults (so a volseg
    that adds an option keeps finished studies resumable), ``exclude`` left out."""
    values = recipe.model_dump(mode="json", exclude_defaults=True)
    return {k: v for k, v in values.items() if k not in exclude}


def data_layout(recipe: TrainConfig) -> dict[str, Any]:
    """The training and validation data of a recipe."""
    values = recipe.resolved()
    return {"train": values["train"], "validation": values["validation"]}
