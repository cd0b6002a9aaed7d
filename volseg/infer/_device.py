"""Devices and mixed precision (re-exported from :mod:`volseg.models`)."""

from __future__ import annotations

from volseg.models import autocast, resolve_device

__all__ = ["autocast", "resolve_device"]
