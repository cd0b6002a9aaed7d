"""Freezing part of a network for fine-tuning: no gradients, out of the optimizer, and
BatchNorm statistics held (the frozen modules stay in eval mode while the rest trains)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from torch import nn

from volseg.errors import ConfigError

#: The named freezes: the model's encoder, or everything but the last module holding
#: parameters (the classifier).
FreezePreset = Literal["encoder", "all-but-last"]
#: A freeze: a named one, or module names (``model.named_modules()``, e.g. ``encoders.0``).
Freeze = FreezePreset | Sequence[str]


def _named(model: nn.Module) -> dict[str, nn.Module]:
    return {name: m for name, m in model.named_modules() if name}


def frozen_modules(model: nn.Module, freeze: Freeze) -> list[str]:
    """The names of the modules ``freeze`` selects in ``model``.

    Raises
    ------
    ConfigError
        A name that is no module of ``model`` (the message lists the top-level ones and
        says how deeper ones are named), ``encoder`` on a model that declares none, or a
        freeze that selects no parameter.
    """
    named = _named(model)
    top = [name for name, _ in model.named_children()]
    if freeze == "encoder":
        names = list(getattr(model, "encoder", ()))
        if not names:
            raise ConfigError(
                f"{type(model).__name__} declares no encoder; freeze module names instead "
                f"(top level: {', '.join(top)})"
            )
    elif freeze == "all-but-last":
        holding = [n for n in top if any(True for _ in named[n].parameters())]
        names = holding[:-1]
    else:
        names = list(freeze)
        unknown = [n for n in names if n not in named]
        if unknown:
            raise ConfigError(
                f"freeze names no module {unknown[0]!r} of {type(model).__name__}; valid: "
                f"{', '.join(top)} (or dotted names inside them, e.g. {top[0]}.0)"
            )
    if not any(p.numel() for n in names for p in named[n].parameters()):
        raise ConfigError(f"freeze {freeze!r} selects no parameters of {type(model).__name__}")
    return names


def freeze_modules(model: nn.Module, names: Sequence[str]) -> int:
    """Stop gradients of the modules ``names`` and hold their BatchNorm statistics; return
    the number of frozen parameters. Build the optimizer afterwards from
    ``trainable_parameters(model)``; call :func:`hold_frozen` after every ``model.train()``.
    """
    named = _named(model)
    count = 0
    for name in names:
        for p in named[name].parameters():
            p.requires_grad_(False)
            count += p.numel()
    hold_frozen(model, names)
    return count


def hold_frozen(model: nn.Module, names: Sequence[str]) -> None:
    """Put the frozen modules back in eval mode (BatchNorm uses and keeps its statistics)."""
    named = _named(model)
    for name in names:
        named[name].eval()


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters that still take gradients (what the optimizer gets)."""
    return [p for p in model.parameters() if p.requires_grad]
