"""Reading a bioimage.io model package that volseg exported, as a checkpoint payload.

Plain ``zipfile`` + ``yaml.safe_load``: running a package needs neither bioimageio.spec nor
code from the package. What every bioimage.io tool applies (the input normalization, the
logit offsets in the architecture's kwargs, the class names of the output channels) is
read from the description itself, so volseg runs the package exactly as they do.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any

import yaml

from volseg.errors import CheckpointError

__all__ = [
    "NETWORK_CALLABLE",
    "NETWORK_MODULE",
    "is_bioimageio_package",
    "read_bioimageio_payload",
]

#: Where bioimage.io tools import the network of a volseg package from.
NETWORK_MODULE = "volseg.models"
NETWORK_CALLABLE = "bioimageio_network"
_DESCRIPTIONS = ("rdf.yaml", "bioimageio.yaml")
_NEEDS = (
    "volseg runs the packages `volseg export-model` writes (pytorch_state_dict weights "
    f"built by {NETWORK_MODULE}.{NETWORK_CALLABLE}, with config.volseg); run this one in a "
    "bioimage.io tool (bioimageio.core, ilastik, deepImageJ), or export your volseg "
    "checkpoint with `volseg export-model CKPT OUT.zip`"
)


def _description_name(names: list[str]) -> str | None:
    return next((n for n in _DESCRIPTIONS if n in names), None)


def is_bioimageio_package(path: Path) -> bool:
    """Whether ``path`` is a zip holding a bioimage.io description (``rdf.yaml``)."""
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return _description_name(archive.namelist()) is not None
    except (OSError, zipfile.BadZipFile):
        return False


def _get(data: Any, *keys: str | int) -> Any:
    for key in keys:
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and key < len(data):
            data = data[key]
        else:
            return None
    return data


def _normalization(path: Path, rdf: dict[str, Any]) -> dict[str, float]:
    steps = _get(rdf, "inputs", 0, "preprocessing") or []
    found = [s for s in steps if _get(s, "id") == "fixed_zero_mean_unit_variance"]
    kwargs = _get(found[0], "kwargs") if len(found) == 1 else None
    if not isinstance(kwargs, dict) or not {"mean", "std"} <= set(kwargs):
        raise CheckpointError(
            f"{path}: its input has no single fixed_zero_mean_unit_variance preprocessing "
            f"with a mean and a std (found {steps}); {_NEEDS}"
        )
    return {"mean": float(kwargs["mean"]), "std": float(kwargs["std"])}


def read_bioimageio_payload(path: Path) -> dict[str, Any]:
    """The checkpoint payload of a package :func:`volseg.models.export_bioimageio` wrote.

    Returns the keys :func:`volseg.models.load_checkpoint` reads from a checkpoint file:
    ``format``, ``architecture``, ``arguments``, ``metadata`` (the normalization, logit
    offsets and classes as the description states them), ``weights_sha256`` (the sha256
    the description states for the weights file) and ``weights`` (that file's bytes).

    Raises
    ------
    CheckpointError
        An unreadable zip or description, a package volseg cannot run (saying what it
        needs), a weights file missing from the package, or one whose sha256 differs from
        the one the package states.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            name = _description_name(names)
            rdf = yaml.safe_load(archive.read(name)) if name else None
            weights = _get(rdf, "weights", "pytorch_state_dict")
            source = str(_get(weights, "source") or "")
            raw = archive.read(source) if source in names else None
    except (OSError, zipfile.BadZipFile, yaml.YAMLError) as exc:
        raise CheckpointError(
            f"{path} is not a readable bioimage.io package: {type(exc).__name__}: "
            f"{str(exc)[:200]}; export it again with `volseg export-model`"
        ) from None
    if not isinstance(rdf, dict) or rdf.get("type") != "model":
        raise CheckpointError(f"{path} is a bioimage.io package but not a model; {_NEEDS}")
    arch = _get(weights, "architecture") or {}
    volseg = _get(rdf, "config", "volseg")
    if (
        _get(arch, "import_from") != NETWORK_MODULE
        or _get(arch, "callable") != NETWORK_CALLABLE
        or not isinstance(volseg, dict)
    ):
        formats = ", ".join(sorted(rdf.get("weights") or {})) or "no"
        raise CheckpointError(
            f"{path} is a bioimage.io model package that volseg cannot run: it has {formats} "
            f"weights{' from ' + str(arch.get('import_from')) if arch else ''} and "
            f"{'a' if isinstance(volseg, dict) else 'no'} config.volseg; {_NEEDS}"
        )
    if raw is None:
        raise CheckpointError(
            f"{path}: the weights file {source!r} the package names is missing from it; "
            "export it again with `volseg export-model`"
        )
    stated = str(_get(weights, "sha256") or "")
    digest = hashlib.sha256(raw).hexdigest()
    if digest != stated:
        raise CheckpointError(
            f"bioimage.io package {path} is corrupted: its weights {source!r} hash to sha256 "
            f"{digest} but the package states {stated or 'none'}; restore it from a good copy"
        )
    kwargs = _get(arch, "kwargs") or {}
    metadata = dict(volseg.get("metadata") or {})
    metadata["normalization"] = _normalization(path, rdf)
    metadata["logit_offsets"] = kwargs.get("logit_offsets")
    names_out = _get(rdf, "outputs", 0, "axes", 1, "channel_names")
    if isinstance(names_out, list):
        metadata["classes"] = [str(n) for n in names_out]
    return {
        "format": volseg.get("format"),
        "architecture": kwargs.get("architecture"),
        "arguments": dict(kwargs.get("arguments") or {}),
        "metadata": metadata,
        "weights_sha256": stated,
        "weights": raw,
    }
