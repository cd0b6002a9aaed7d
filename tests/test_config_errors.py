"""volseg.config: every config refuses a bad value with one ConfigError naming the field,
however it is built (constructor, model_validate, model_copy, validated)."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pydantic
import pytest

import volseg
from volseg.config import FrozenConfig, validated
from volseg.errors import ConfigError
from volseg.phantom import PhantomConfig
from volseg.segment import SegmentConfig
from volseg.train import DataConfig, TrainConfig


def _config_classes() -> list[type[pydantic.BaseModel]]:
    """Every pydantic model defined in volseg (all modules imported), so that a new config
    class is covered without being listed here."""
    for info in pkgutil.walk_packages(volseg.__path__, "volseg."):
        if not info.name.endswith(".__main__"):  # runs the command line
            importlib.import_module(info.name)
    found: set[type[pydantic.BaseModel]] = set()
    todo = [pydantic.BaseModel]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    ours = [c for c in found if c.__module__.startswith("volseg.") and c is not FrozenConfig]
    return sorted(ours, key=lambda c: f"{c.__module__}.{c.__qualname__}")


CONFIGS = _config_classes()


class _NotAValue:
    """Valid for no field type (str, numbers, tuples, lists, dicts, Literals, models)."""


def _names_field(message: str, field: str) -> bool:
    # "invalid WHAT: field: problem; other.field: problem"
    return re.search(rf"(: |; ){re.escape(field)}[.:]", message) is not None


def test_the_config_classes_are_found() -> None:
    names = {c.__name__ for c in CONFIGS}
    assert {"DataConfig", "TrainConfig", "SegmentConfig", "PhantomConfig", "StudyConfig"} <= names


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.__qualname__)
def test_every_config_is_a_frozen_config(config: type[pydantic.BaseModel]) -> None:
    assert issubclass(config, FrozenConfig)
    assert config.model_config["frozen"] is True
    assert config.model_config["extra"] == "forbid"


def _check(raised: ConfigError, config: type[pydantic.BaseModel], field: str) -> None:
    assert not isinstance(raised, pydantic.ValidationError)
    message = str(raised)
    assert message.startswith(f"invalid {config.__name__}: "), message
    assert "\n" not in message
    assert _names_field(message, field), (field, message)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.__qualname__)
def test_a_bad_value_is_one_config_error_naming_the_field(
    config: type[pydantic.BaseModel],
) -> None:
    assert config.model_fields
    for field in config.model_fields:
        with pytest.raises(ConfigError) as built:
            config(**{field: _NotAValue()})
        _check(built.value, config, field)
        with pytest.raises(ConfigError) as parsed:
            config.model_validate({field: _NotAValue()})
        _check(parsed.value, config, field)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.__qualname__)
def test_an_unknown_option_is_a_config_error_naming_it(config: type[pydantic.BaseModel]) -> None:
    with pytest.raises(ConfigError, match="Extra inputs are not permitted") as built:
        config(not_an_option=1)
    _check(built.value, config, "not_an_option")
    with pytest.raises(ConfigError, match="Extra inputs are not permitted") as parsed:
        config.model_validate_json('{"not_an_option": 1}')
    _check(parsed.value, config, "not_an_option")


def test_nested_errors_name_the_full_path_once() -> None:
    with pytest.raises(ConfigError) as exc:
        TrainConfig(train={"source": 1}, augmentation={"probability": 3}, epochs=0)
    assert str(exc.value) == (
        "invalid TrainConfig: train.source: Input should be a valid string; "
        "augmentation.probability: Input should be less than or equal to 1; "
        "epochs: Input should be greater than or equal to 1"
    )


def test_model_copy_validates_its_update_and_keeps_the_set_fields() -> None:
    config = SegmentConfig(volume="v.zarr", model="m.pt", out="o.zarr", window="uniform")
    with pytest.raises(ConfigError, match=r"^invalid SegmentConfig: batch_size: Input should be"):
        config.model_copy(update={"batch_size": 0})
    with pytest.raises(ConfigError, match="not_an_option: Extra inputs"):
        config.model_copy(update={"not_an_option": 1})
    copy = config.model_copy(update={"batch_size": 4})
    assert copy.batch_size == 4 and copy.window == "uniform" and copy.overlap == 0.25
    # the fields given stay told apart from the defaults (tile "auto" refuses a given window)
    assert copy.model_fields_set == {"volume", "model", "out", "window", "batch_size"}
    assert config.model_copy() == config
    original = TrainConfig(train=DataConfig(source="a", slices=[1]))
    deep = original.model_copy(update={"seed": 3}, deep=True)
    assert deep.seed == 3 and deep.train == original.train and deep.train is not original.train


def test_validated_names_the_config_and_its_fields_as_asked() -> None:
    values = {"volume": "v", "model": "m", "out": "o", "batch_size": 0, "skip": "all"}
    with pytest.raises(ConfigError) as exc:
        validated(SegmentConfig, values, what="segment options", style="flag")
    assert str(exc.value) == (
        "invalid segment options: --batch-size: Input should be greater than or equal to 1; "
        "--skip: Input should be 'none' or 'empty'"
    )
    # through a function that builds the config, too
    with pytest.raises(ConfigError, match=r"^invalid phantom options: --seed: Input should be"):
        validated(
            PhantomConfig.preset,
            {"name": "small", "seed": -1},
            what="phantom options",
            style="flag",
        )
    # and only inside validated(): built directly, a config names itself again
    with pytest.raises(ConfigError, match=r"^invalid SegmentConfig: batch_size: "):
        SegmentConfig(**values)
