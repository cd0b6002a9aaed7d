"""Validated, frozen configs at the file/CLI boundary: one way to turn pydantic's
validation errors into a :class:`~volseg.errors.ConfigError` that names every field."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import ValidationError

from volseg.errors import ConfigError

__all__ = ["read_yaml_mapping", "validated"]

T = TypeVar("T")


def _field(loc: tuple[Any, ...], style: Literal["flag", "key"]) -> str:
    if style == "flag":
        return "--" + "-".join(str(p) for p in loc).replace("_", "-")
    return ".".join(str(p) for p in loc) or "config"


def validated(
    build: Callable[..., T],
    values: Mapping[str, Any],
    *,
    what: str,
    style: Literal["flag", "key"] = "key",
) -> T:
    """``build(**values)``; a pydantic ``ValidationError`` becomes one ``ConfigError``
    ("invalid WHAT: field: problem; ..."), fields named as ``--cli-flags`` or ``dotted.keys``.
    """
    try:
        return build(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{_field(tuple(e['loc']), style)}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid {what}: {problems}") from None


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
