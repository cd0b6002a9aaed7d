"""The training recipe: one frozen, validated config, read from YAML and saved beside outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ConfigDict, Field, field_validator, model_validator

from volseg._options import DeviceChoice
from volseg.config import FrozenConfig, read_yaml_mapping, validated
from volseg.models import FreezePreset
from volseg.train._augment import Rotation
from volseg.train._inputs import InputConfig
from volseg.train._weights import WeightMethod


class DataConfig(FrozenConfig):
    """Annotated slices: a folder with ``images/`` and ``labels/``, or a volseg store."""

    source: str
    labels: str = "ground_truth"  #: labels group of a store
    #: annotated slices of a store, or images of a folder by sorted file name (None: all)
    slices: list[int] | None = None


class AugmentationConfig(FrozenConfig):
    flips: bool = True
    rotation: Rotation = "any"
    probability: float = Field(0.5, ge=0.0, le=1.0)
    intensity_jitter: float = Field(0.0, ge=0.0, le=1.0)


class TrainConfig(FrozenConfig):
    """Everything that decides a training run (the defaults are the CPU recipe).

    ``crop_size`` None trains on whole images; ``early_stopping`` None never stops early;
    ``device`` ``auto`` takes CUDA when present (bf16 autocast, channels_last), else CPU.
    """

    model_config = ConfigDict(protected_namespaces=())  # a field is named model

    train: DataConfig
    validation: DataConfig | None = None
    out: str = "out/train"
    classes: list[str] | None = None
    model: str = "segnet-lite"
    model_arguments: dict[str, Any] = Field(default_factory=dict)
    in_channels: int = Field(1, ge=1, le=15)
    crop_size: int | None = Field(224, ge=32)
    crops: int = Field(400, ge=1)
    class_weights: WeightMethod = "inverse"
    #: decide on argmax(logits - log(class weight)): undoes the bias class weighting puts
    #: on the decision (see docs/training.md); stored in the checkpoint for inference
    prior_correction: bool = True
    augmentation: AugmentationConfig = AugmentationConfig()
    #: whole images, or segmented ones (region of interest kept, the rest one value)
    inputs: InputConfig = InputConfig()
    #: a checkpoint to start from (fine-tuning; its normalization is kept)
    init: str | None = None
    #: what stays fixed while fine-tuning: "encoder", "all-but-last" or module names
    freeze: FreezePreset | list[str] | None = None
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0.0, le=1.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    epochs: int = Field(14, ge=1)
    #: stop after this many optimizer steps (the last epoch may be partial); None: epochs
    max_steps: int | None = Field(None, ge=1)
    #: validate (and keep the best checkpoint) every this many steps; None: after each epoch
    validate_every: int | None = Field(None, ge=1)
    batch_size: int = Field(8, ge=1)
    lr_patience: int = Field(3, ge=0)
    lr_factor: float = Field(0.5, gt=0.0, lt=1.0)
    early_stopping: int | None = Field(None, ge=1)
    class_of_interest: int = Field(1, ge=0)
    bf1_tolerance: float = Field(2.0, gt=0.0)
    seed: int = 0
    device: DeviceChoice = "auto"
    threads: int | None = Field(None, ge=1)

    @field_validator("out")
    @classmethod
    def _out_not_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("out must name a folder")
        return v

    @field_validator("freeze")
    @classmethod
    def _freeze_names(cls, v: Any) -> Any:
        if isinstance(v, list) and not v:
            raise ValueError("freeze names no module; give module names, encoder or all-but-last")
        return v

    @model_validator(mode="after")
    def _freeze_needs_init(self) -> TrainConfig:
        if self.freeze is not None and self.init is None:
            raise ValueError("freeze needs init: the checkpoint to fine-tune")
        return self

    def resolved(self) -> dict[str, Any]:
        """Every field, defaults filled in, as JSON-able data."""
        return self.model_dump(mode="json")

    def to_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.resolved(), sort_keys=False))


def make_config(values: dict[str, Any], *, where: str = "config") -> TrainConfig:
    """Build a :class:`TrainConfig`, turning validation errors into one :class:`ConfigError`."""
    return validated(TrainConfig, values, what=f"training {where}")


def load_config(path: str | Path, **overrides: Any) -> TrainConfig:
    """Read a YAML training config; ``overrides`` (not None) replace its values.

    Relative data paths in the file are taken relative to the file's folder.

    Parameters
    ----------
    path
        A ``volseg train`` YAML file (``pipelines/train_tomography.yaml`` is one).
    **overrides
        Options that replace the file's (``epochs=1``, ``out="out/run"``, ...); a value of
        ``None`` leaves the file's value.

    Returns
    -------
    TrainConfig
        The validated, frozen config.

    Raises
    ------
    ConfigError
        The file is missing or not a mapping, or an option is unknown or invalid (every
        field at fault is named).
    """
    path = Path(path)
    values = read_yaml_mapping(path, what="training config")
    for key in ("train", "validation"):
        data = values.get(key)
        if isinstance(data, str):
            data = values[key] = {"source": data}
        if isinstance(data, dict) and "source" in data:
            src = Path(str(data["source"]))
            if not src.is_absolute():
                data["source"] = str((path.parent / src).resolve())
    values.update({k: v for k, v in overrides.items() if v is not None})
    return make_config(values, where=f"config {path}")
