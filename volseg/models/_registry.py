"""Registry of model architectures by name."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from volseg.errors import ConfigError
from volseg.models._blocks import SegmentationModel
from volseg.models._segnet import segnet
from volseg.models._unet import unet_small

__all__ = ["available_models", "build_model", "register_model"]


@dataclass(frozen=True)
class _Entry:
    factory: Callable[..., SegmentationModel]
    description: str


_REGISTRY: dict[str, _Entry] = {}


def register_model(
    name: str,
    factory: Callable[..., SegmentationModel],
    *,
    description: str,
    replace: bool = False,
) -> None:
    """Register a model factory under ``name`` for :func:`build_model` and checkpoints.

    Parameters
    ----------
    name : str
        Registry name, as stored in checkpoints (``architecture``).
    factory : callable
        Called with keyword arguments only (at least ``in_channels`` and ``num_classes``);
        returns a :class:`SegmentationModel` (declaring ``alignment``, ``in_channels`` and
        ``num_classes``).
    description : str
        One line shown by :func:`available_models`.
    replace : bool, default False
        Allow replacing an existing registration.

    Raises
    ------
    ConfigError
        If ``name`` is empty or already registered (and ``replace`` is false), or
        ``factory`` is not callable.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"a model name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise ConfigError(f"the factory for model {name!r} is not callable: {factory!r}")
    if name in _REGISTRY and not replace:
        raise ConfigError(f"model {name!r} is already registered; pass replace=True to replace it")
    _REGISTRY[name] = _Entry(factory, description)


def available_models() -> dict[str, str]:
    """Registered model names and their one-line descriptions, sorted by name."""
    return {name: _REGISTRY[name].description for name in sorted(_REGISTRY)}


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        names = ", ".join(repr(n) for n in sorted(_REGISTRY))
        raise ConfigError(f"unknown model {name!r}; available models: {names}") from None


def check_model_arguments(name: str, arguments: dict[str, Any]) -> None:
    """Raise ``ConfigError`` unless ``arguments`` are accepted by the factory of ``name``."""
    factory = _entry(name).factory
    try:
        inspect.signature(factory).bind(**arguments)
    except TypeError as exc:
        params = ", ".join(inspect.signature(factory).parameters)
        raise ConfigError(
            f"model {name!r} does not accept arguments {sorted(arguments)} ({exc}); "
            f"it accepts: {params}"
        ) from None


def build_model(name: str, **kwargs: Any) -> SegmentationModel:
    """Build the registered model ``name`` with keyword arguments ``kwargs``.

    Parameters
    ----------
    name : str
        A name from :func:`available_models`.
    **kwargs
        Passed to the factory, e.g. ``in_channels=1, num_classes=2``.

    Returns
    -------
    SegmentationModel
        A freshly initialised model in train mode; seed with ``torch.manual_seed`` first for
        reproducible weights.

    Raises
    ------
    ConfigError
        If ``name`` is not registered (the message lists the available names) or the
        factory does not accept ``kwargs`` or does not return a ``SegmentationModel``.

    Examples
    --------
    >>> model = build_model("segnet-lite", in_channels=1, num_classes=2)
    >>> model.alignment
    32
    """
    check_model_arguments(name, kwargs)
    model = _entry(name).factory(**kwargs)
    if not isinstance(model, SegmentationModel):
        raise ConfigError(
            f"the factory of model {name!r} returned {type(model).__name__}, not a "
            "volseg.models.SegmentationModel (which declares alignment, in_channels, "
            "num_classes); subclass it"
        )
    return model


def _segnet_lite(*, in_channels: int = 1, num_classes: int = 2) -> SegmentationModel:
    return segnet(in_channels=in_channels, num_classes=num_classes, width=16)


register_model(
    "segnet",
    segnet,
    description="SegNet, VGG16 encoder (width 64, 29.4 M parameters); alignment 32",
)
register_model(
    "segnet-lite",
    _segnet_lite,
    description="SegNet at width 16 (1.84 M parameters), the CPU default; alignment 32",
)
register_model(
    "unet-small",
    unet_small,
    description="small 4-level U-Net (width 16, 1.94 M parameters) for comparison; alignment 16",
)
