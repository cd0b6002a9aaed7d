"""``volseg study inputs``: does training on segmented images differ from training on whole
images? Recipes whole / segmented / pretrain-on-segmented-then-fine-tune, R seeds each,
paired by seed, scored on whole and segmented test images."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
from pydantic import Field, field_validator, model_validator

from volseg.config import read_yaml_mapping, validated
from volseg.errors import ConfigError
from volseg.io import GROUND_TRUTH, VolumeStore, strict_image, strict_labels
from volseg.models import FreezePreset, build_model, frozen_modules
from volseg.study._config import EXECUTION, StudyBase, absolute_data, make_train_config
from volseg.study._execute import StudyResult, execute_runs, study_lock
from volseg.study._plan import Recipe, StudyRun, data_layout, recipe_layout, steps_budget
from volseg.study._task import RunTask
from volseg.study._testset import TestSet, check_held_out, prepare_test, write_test_store
from volseg.train import (
    InputConfig,
    SliceSet,
    fill_value,
    load_slices,
    region_masks,
)

if TYPE_CHECKING:
    from distributed import Client

RecipeName = Literal["whole", "segmented", "finetune"]
#: Training options the inputs study sets per run (a recipe may not set them).
_PER_RUN = ("train", "validation", "out", "seed", "max_steps", "inputs", "init", "freeze")
#: The segmented copy of the test images (region kept, the rest the training fill value).
SEGMENTED_TEST = "test_segmented.ome.zarr"


class InputStudyConfig(StudyBase):
    """Everything that decides an inputs study (see docs/study.md)."""

    out: str = "out/study_inputs"
    recipes: list[RecipeName] = Field(default_factory=lambda: list(get_args(RecipeName)))
    seeds: int = Field(5, ge=2, le=100)
    #: the segmented variant: region (objects dilated / mask) and fill value
    segmented: InputConfig = InputConfig(variant="segmented")
    #: what fine-tuning holds fixed: "encoder", "all-but-last" or module names
    freeze: FreezePreset | list[str] = "encoder"
    finetune_epochs: int | None = Field(None, ge=1)  #: default: the recipe's epochs

    @field_validator("recipes")
    @classmethod
    def _recipes(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v) or not v:
            raise ValueError("list each recipe once (whole, segmented, finetune)")
        return v

    @field_validator("recipe")
    @classmethod
    def _recipe(cls, v: dict[str, Any]) -> dict[str, Any]:
        fixed = [k for k in _PER_RUN if k in v]
        if fixed:
            raise ValueError(f"{', '.join(fixed)} is set by the study for each run")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> InputStudyConfig:
        if self.segmented.variant != "segmented":
            raise ValueError("segmented.variant must be segmented")
        if "finetune" in self.recipes and "segmented" not in self.recipes:
            raise ValueError("finetune starts from the segmented runs: add segmented to recipes")
        if "whole" not in self.recipes:
            raise ValueError("recipes must include whole: every recipe is compared with it")
        return self


def load_input_study_config(path: str | Path, **overrides: Any) -> InputStudyConfig:
    """Read an inputs-study YAML (data paths relative to the file); ``overrides`` win.

    Parameters
    ----------
    path
        An inputs-study YAML (``pipelines/study_inputs_tomography.yaml`` is one).
    **overrides
        Options that replace the file's; a value of ``None`` leaves the file's value.

    Returns
    -------
    InputStudyConfig
        The validated, frozen config.

    Raises
    ------
    ConfigError
        The file is missing or not a mapping, or an option is unknown or invalid (every
        field at fault is named).
    """
    path = Path(path)
    values = read_yaml_mapping(path, what="study config")
    for key in ("train", "validation", "test"):
        if values.get(key) is not None:
            values[key] = absolute_data(values[key], path.parent)
    mask = (values.get("segmented") or {}).get("mask")
    if mask and (path.parent / mask).exists():
        values["segmented"]["mask"] = str((path.parent / mask).resolve())
    values.update({k: v for k, v in overrides.items() if v is not None})
    config = validated(InputStudyConfig, values, what=f"inputs study config {path}")
    config.recipe_config()
    return config


def plan_inputs(
    config: InputStudyConfig, *, shapes: Sequence[tuple[int, int]]
) -> list[list[StudyRun]]:
    """The runs in two phases: whole and segmented, then finetune (it starts from the
    segmented run of its seed). Seeds pair the recipes: the same crops, augmentation and
    initialisation wherever the recipe allows."""
    recipe = config.recipe_config()
    root = Path(config.out).resolve() / "runs"
    count, batch = recipe.crops, recipe.batch_size
    # whole images count by their mean area, as in the crop study
    mean_area = sum(h * w for h, w in shapes) / len(shapes)
    crop_pixels = float(recipe.crop_size) ** 2 if recipe.crop_size else mean_area
    first: list[StudyRun] = []
    second: list[StudyRun] = []
    for name in config.recipes:
        for seed in range(config.seeds):
            values: dict[str, Any] = {
                **recipe.model_dump(),
                "out": str(root / f"{name}-r{seed}" / "train"),
                "seed": seed,
            }
            epochs = recipe.epochs
            if name == "segmented":
                values["inputs"] = config.segmented
            if name == "finetune":
                epochs = config.finetune_epochs or recipe.epochs
                values["init"] = str(root / f"segmented-r{seed}" / "train" / "best.pt")
                values["freeze"] = config.freeze
            values["epochs"] = epochs
            train = make_train_config(values, f"run {name}-r{seed}")
            steps = epochs * math.ceil(count / batch)
            b = steps_budget(
                steps, count=count, batch_size=batch, crop_pixels=crop_pixels, every=None
            )
            run = StudyRun(Recipe(name), seed, train, b)
            (second if name == "finetune" else first).append(run)
    return [first, second] if second else [first]


def _segmented_test(test: TestSet, config: InputStudyConfig, value: float, out: Path) -> Path:
    """The test images with their region kept and the rest set to ``value``, as a store."""
    store = VolumeStore.open(test.store)
    image = strict_image(store.image(0))[:].astype(np.float32)
    labels = strict_labels(store.labels(GROUND_TRUTH))[:]
    names = [f"test z={z}" for z in range(image.shape[0])]
    sset = SliceSet(list(image), list(labels), names, store.classes(GROUND_TRUTH), str(test.store))
    masks = region_masks(sset, config.segmented)
    segmented = np.stack([np.where(m, im, value) for im, m in zip(image, masks, strict=True)])
    dtype = store.image(0).dtype
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        segmented = np.clip(np.rint(segmented), info.min, info.max)
    return write_test_store(
        segmented.astype(dtype),
        labels,
        out / SEGMENTED_TEST,
        classes=store.classes(GROUND_TRUTH),
        voxel_size=store.voxel_size,
    )


def prepare_inputs(
    config: InputStudyConfig, *, progress: bool = True
) -> tuple[list[list[StudyRun]], RunTask, dict[str, Any]]:
    """Check every input before training (regions, masks, freeze) and plan the runs."""
    recipe = config.recipe_config()
    train_set = load_slices(recipe.train, in_channels=recipe.in_channels, classes=recipe.classes)
    region_masks(train_set, config.segmented, store_slices=recipe.train.slices)
    sets = {"training": train_set}
    if recipe.validation is not None:
        sets["validation"] = load_slices(
            recipe.validation, in_channels=recipe.in_channels, classes=train_set.classes
        )
        region_masks(sets["validation"], config.segmented, store_slices=recipe.validation.slices)
    if "finetune" in config.recipes:
        model = build_model(
            recipe.model,
            in_channels=recipe.in_channels,
            num_classes=train_set.num_classes,
            **recipe.model_arguments,
        )
        frozen_modules(model, config.freeze)
    if recipe.crop_size is not None and recipe.crop_size > min(min(s) for s in train_set.shapes):
        raise ConfigError(
            f"crop size {recipe.crop_size} px is larger than the training images; use at "
            f"most {min(min(s) for s in train_set.shapes)} px"
        )
    phases = plan_inputs(config, shapes=train_set.shapes)
    out = Path(config.out)
    test = prepare_test(config.test, out, progress=progress)
    check_held_out(test, sets)
    value = fill_value([train_set], config.segmented)
    segmented = _segmented_test(test, config, value, out)
    scoring = {
        "checkpoint": "best validation IoU of the class of interest",
        "class_of_interest": recipe.class_of_interest,
        "bf1_tolerance_px": recipe.bf1_tolerance,
        "test_sets": ["whole", "segmented"],
        "segmented_fill_value": value,
    }
    layout = {
        "recipe": recipe_layout(recipe, exclude=(*EXECUTION, *_PER_RUN)),
        "data": data_layout(recipe),
        "segmented": config.segmented.model_dump(mode="json"),
        "freeze": config.freeze,
        "finetune_epochs": config.finetune_epochs,
        "test": test.identity,
        "scoring": scoring,
    }
    task = RunTask(
        test_store=str(test.store.resolve()),
        slices=test.slices,
        classes=train_set.classes,
        tolerance=recipe.bf1_tolerance,
        device=recipe.device,
        extra_tests=(("segmented", str(segmented.resolve())),),
    )
    return phases, task, layout


def run_input_study(
    config: InputStudyConfig,
    *,
    progress: bool = True,
    overwrite: bool = False,
    client: Client | None = None,
) -> StudyResult:
    """Run the inputs study ``config`` into ``config.out`` and write its report (resumable
    run by run, like the crop study; fine-tuning runs start after the segmented ones).

    Parameters
    ----------
    config
        The study (:func:`load_input_study_config` reads it from YAML).
    progress
        Draw progress bars on stderr.
    overwrite
        Forget the finished runs of an earlier study in ``config.out`` and start again.
    client
        A dask client to run the runs on; ``None`` connects to ``config.scheduler``, else
        starts a local cluster of ``config.workers`` processes.

    Returns
    -------
    StudyResult
        The runs planned, the records of the finished ones, the failed runs (key: error),
        the runner's summary, the report's files and the answer.

    Raises
    ------
    RunLockedError
        Another study holds the lock of ``config.out``.
    ResumeMismatchError
        ``config.out`` holds a study with another layout (recipe, budget, data, test set or
        scoring; the message names what changed) and ``overwrite`` is false.
    ConfigError
        Bad inputs, found before anything trains.
    """
    out = Path(config.out)
    # the lock is held from the first file written (the test stores) to the report
    with study_lock(out, lambda: prepare_inputs(config, progress=progress)) as prepared:
        phases, task, layout = prepared

        def report(result: StudyResult, test: Path) -> tuple[dict[str, Path], str]:
            from volseg.study._inputs_report import (
                write_inputs_report,  # matplotlib: reporting only
            )

            return write_inputs_report(config, result, test)

        return execute_runs(
            config,
            phases,
            task,
            layout,
            report=report,
            progress=progress,
            overwrite=overwrite,
            client=client,
        )
