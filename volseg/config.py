"""Validated, frozen configs: :class:`FrozenConfig`, the base of every volseg config, and
one way to turn pydantic's validation errors into a :class:`~volseg.errors.ConfigError`
that names every field, whether a config is built directly or from a file or the CLI."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from volseg.errors import ConfigError

__all__ = ["FrozenConfig", "read_yaml_mapping", "validated"]

T = TypeVar("T")
Style = Literal["flag", "key"]

# How validated() names the config and its fields in the errors of the configs it builds
# (a config built directly names itself by its class, its fields as dotted keys).
_NAMING: ContextVar[tuple[str, Style] | None] = ContextVar("volseg_config_naming", default=None)


def _field(loc: tuple[Any, ...], style: Style) -> str:
    if style == "flag":
        return "--" + "-".join(str(p) for p in loc).replace("_", "-")
    return ".".join(str(p) for p in loc) or "config"


def _config_error(exc: ValidationError, what: str, style: Style) -> ConfigError:
    problems = "; ".join(f"{_field(tuple(e['loc']), style)}: {e['msg']}" for e in exc.errors())
    return ConfigError(f"invalid {what}: {problems}")


@contextmanager
def _refused_as_config_error(config: type[BaseModel]) -> Iterator[None]:
    try:
        yield
    except ValidationError as exc:
        what, style = _NAMING.get() or (config.__name__, "key")
        raise _config_error(exc, what, style) from None


class FrozenConfig(BaseModel):
    """The base of volseg's configs: frozen, unknown fields refused, validated at
    construction.

    A value that does not validate raises :class:`~volseg.errors.ConfigError` (a
    ``ValueError``) with one line naming every field at fault ("invalid TrainConfig:
    epochs: Input should be greater than or equal to 1"), never pydantic's
    ``ValidationError``: from the constructor, :meth:`model_validate`,
    :meth:`model_validate_json` and :meth:`model_copy` (which validates its ``update``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, /, **data: Any) -> None:
        with _refused_as_config_error(type(self)):
            super().__init__(**data)

    # pydantic's mark of an __init__ that only validates (BaseModel's and RootModel's own):
    # nested configs and model_validate are then validated in pydantic-core, not through
    # this __init__, so their errors stay one ValidationError with full field paths
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Self:
        with _refused_as_config_error(cls):
            return super().model_validate(obj, **options)

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **options: Any) -> Self:
        with _refused_as_config_error(cls):
            return super().model_validate_json(json_data, **options)

    @classmethod
    def model_validate_strings(cls, obj: Any, **options: Any) -> Self:
        with _refused_as_config_error(cls):
            return super().model_validate_strings(obj, **options)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with the fields in ``update`` replaced, validated as a new config (pydantic
        copies without validating); the fields it counts as set are this one's and
        ``update``'s."""
        if not update:
            return super().model_copy(deep=deep)
        given = {name: getattr(self, name) for name in self.model_fields_set}
        copy = type(self)(**{**given, **update})
        return copy.model_copy(deep=True) if deep else copy


def validated(
    build: Callable[..., T],
    values: Mapping[str, Any],
    *,
    what: str,
    style: Style = "key",
) -> T:
    """``build(**values)``; a config that does not validate raises one ``ConfigError``
    ("invalid WHAT: field: problem; ..."), fields named as ``--cli-flags`` or ``dotted.keys``.

    ``build`` is a config class or a function that builds one (``PhantomConfig.preset``).
    """
    token = _NAMING.set((what, style))
    try:
        return build(**values)
    except ValidationError as exc:  # a pydantic model that is not a FrozenConfig
        raise _config_error(exc, what, style) from None
    finally:
        _NAMING.reset(token)


def read_yaml_mapping(path: str | Path, *, what: str) -> dict[str, Any]:
    """The mapping of options in the YAML file ``path`` (empty for an empty file).

    Raises
    ------
    ConfigError
        The file is missing ("WHAT PATH does not exist"), not YAML, or not a mapping.
    """
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must hold a mapping of options, got {type(values).__name__}")
    return values
