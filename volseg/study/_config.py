"""The crop study's config: a grid of crop sizes x crop counts x seeds, one shared recipe,
an explicit training budget policy, and held-out test images."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, field_validator, model_validator

from volseg.config import FrozenConfig, read_yaml_mapping, validated
from volseg.train import DataConfig, TrainConfig

#: How the runs of a study are made comparable (see docs/study.md):
#: ``epochs`` the original protocol (each run the same epochs: more crops, more steps);
#: ``steps`` the same optimizer steps; ``pixels`` the same training pixels seen.
BudgetPolicy = Literal["epochs", "steps", "pixels"]
#: A crop size: pixels, or ``"full"`` for whole images.
CropSize = int | Literal["full"]

#: The grid of the original study.
DEFAULT_SIZES: tuple[CropSize, ...] = (100, 224, 400, 800, "full")
DEFAULT_COUNTS: tuple[int, ...] = (250, 500, 1000, 2000)

#: Recipe fields the study sets per run; a recipe may not set them.
PER_RUN = ("train", "validation", "out", "crop_size", "crops", "seed", "max_steps")
#: Recipe fields that say where a run executes, not what it computes: left out of the
#: hash that decides whether a finished run is still valid.
EXECUTION = ("out", "device", "threads")


class StudyBase(FrozenConfig):
    """What every study has: data (train, validation for model selection, held-out test),
    the output folder, the shared training recipe, retries, the significance level and
    where the runs execute."""

    train: DataConfig
    validation: DataConfig | None = None
    test: DataConfig
    out: str = "out/study"
    recipe: dict[str, Any] = Field(default_factory=dict)
    retries: int = Field(1, ge=0)  #: extra attempts of a failing run
    #: the significance level of the comparisons
    alpha: float = Field(0.05, gt=0.0, lt=1.0)
    scheduler: str | None = None
    workers: int | None = Field(None, ge=1)
    threads_per_worker: int | None = Field(None, ge=1)

    @field_validator("train", "validation", "test", mode="before")
    @classmethod
    def _data(cls, v: Any) -> Any:
        return {"source": v} if isinstance(v, str | Path) else v

    def recipe_config(self) -> TrainConfig:
        """The shared recipe as a validated :class:`TrainConfig` (per-run fields neutral)."""
        return make_train_config(
            {**self.recipe, "train": self.train, "validation": self.validation}, "recipe"
        )

    def resolved(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.resolved(), sort_keys=False))


class StudyConfig(StudyBase):
    """Everything that decides a crop study.

    ``recipe`` holds the training options shared by every run (any :class:`TrainConfig`
    field but the per-run ones: data, out, crop size, crops, seed, max_steps); ``budget``
    with ``epochs``/``steps``/``pixels`` decides how much each run trains.
    """

    out: str = "out/study_crops"
    sizes: list[CropSize] = Field(default_factory=lambda: list(DEFAULT_SIZES))
    counts: list[int] = Field(default_factory=lambda: list(DEFAULT_COUNTS))
    seeds: int = Field(3, ge=1, le=100)  #: repeat seeds 0 .. seeds-1 of every case
    budget: BudgetPolicy = "epochs"
    epochs: int = Field(14, ge=1)  #: the ``epochs`` budget: epochs of every run
    steps: int | None = Field(None, ge=1)  #: the ``steps`` budget: optimizer steps per run
    pixels: int | None = Field(None, ge=1)  #: the ``pixels`` budget: training pixels per run
    #: validation points per run under the steps/pixels budgets (epochs: after each epoch)
    validations: int = Field(8, ge=1)

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, v: list[CropSize]) -> list[CropSize]:
        if not v:
            raise ValueError("give at least one crop size")
        for s in v:
            if s != "full" and s < 32:
                raise ValueError(f"crop size {s} px is below 32 px (the network pools 5x)")
        dup = sorted({str(s) for s in v if v.count(s) > 1})
        if dup:
            raise ValueError(f"crop size {', '.join(dup)} is listed twice; list each once")
        return v

    @field_validator("counts")
    @classmethod
    def _counts(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("give at least one crop count")
        if min(v) < 1:
            raise ValueError(f"crop count {min(v)}: every run needs at least 1 crop")
        dup = sorted({c for c in v if v.count(c) > 1})
        if dup:
            raise ValueError(f"crop count {dup[0]} is listed twice; list each once")
        return v

    @field_validator("recipe")
    @classmethod
    def _recipe(cls, v: dict[str, Any]) -> dict[str, Any]:
        fixed = [k for k in PER_RUN if k in v]
        if fixed:
            raise ValueError(
                f"{', '.join(fixed)} is set by the study for each run; move data to "
                "train/validation/test and crop sizes and counts to sizes/counts"
            )
        if "epochs" in v:
            raise ValueError("set epochs at the top level of the study (budget: epochs)")
        return v

    @model_validator(mode="after")
    def _budget(self) -> StudyConfig:
        need = {"steps": self.steps, "pixels": self.pixels}
        if self.budget in need and need[self.budget] is None:
            raise ValueError(f"budget: {self.budget} needs {self.budget}: N (per run)")
        return self


def make_train_config(values: dict[str, Any], where: str) -> TrainConfig:
    return validated(TrainConfig, values, what=f"study {where}")


def make_study_config(values: dict[str, Any], *, where: str = "config") -> StudyConfig:
    """Build a :class:`StudyConfig`, turning validation errors into one :class:`ConfigError`."""
    config = validated(StudyConfig, values, what=f"crop study {where}")
    config.recipe_config()  # a bad recipe is refused now, not in the first run
    return config


def absolute_data(data: Any, base: Path) -> Any:
    """A data entry (a path, or a mapping with ``source``) with its source made absolute
    relative to ``base`` (the config file's folder)."""
    if isinstance(data, str):
        data = {"source": data}
    if isinstance(data, dict) and "source" in data:
        src = Path(str(data["source"]))
        if not src.is_absolute():
            data["source"] = str((base / src).resolve())
    return data


def load_study_config(path: str | Path, **overrides: Any) -> StudyConfig:
    """Read a study YAML; ``overrides`` (not None) replace its values.

    Data paths (``train``, ``validation``, ``test``) are taken relative to the file's
    folder (``out``, as in ``volseg train``, to the working directory). ``recipe`` may also
    name a training YAML (a ``volseg train`` config) whose options become the shared recipe
    (its data become the study's train/validation unless those are given; its per-run
    fields are left out).

    Parameters
    ----------
    path
        A study YAML (``pipelines/study_crops_tomography.yaml`` is one).
    **overrides
        Options that replace the file's (``seeds=5``, ``out="out/study"``, ...); a value of
        ``None`` leaves the file's value.

    Returns
    -------
    StudyConfig
        The validated, frozen config.

    Raises
    ------
    ConfigError
        The file is missing or not a mapping, or an option is unknown or invalid (every
        field at fault is named).
    """
    path = Path(path)
    values = read_yaml_mapping(path, what="study config")
    base = path.parent
    for key in ("train", "validation", "test"):
        if values.get(key) is not None:
            values[key] = absolute_data(values[key], base)
    if isinstance(values.get("recipe"), str):
        recipe_path = (base / values["recipe"]).resolve()
        recipe = read_yaml_mapping(recipe_path, what=f"recipe (named in {path})")
        for key in ("train", "validation"):
            if key in recipe and key not in values:
                values[key] = absolute_data(recipe[key], recipe_path.parent)
        values["recipe"] = {
            k: v for k, v in recipe.items() if k not in (*PER_RUN, "epochs", "classes")
        } | ({"classes": recipe["classes"]} if "classes" in recipe else {})
    values.update({k: v for k, v in overrides.items() if v is not None})
    return make_study_config(values, where=f"config {path}")
