"""Model checkpoints: weights and metadata in one file, loaded with a sha256 check."""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

import volseg
from volseg._files import write_atomically
from volseg.errors import CheckpointError, ConfigError, InputNotFoundError
from volseg.models._blocks import SegmentationModel
from volseg.models._metadata import ModelInfo
from volseg.models._package import is_bioimageio_package, read_bioimageio_payload
from volseg.models._registry import available_models, build_model, check_model_arguments

__all__ = [
    "CHECKPOINT_FORMAT",
    "Checkpoint",
    "CheckpointHeader",
    "load_checkpoint",
    "read_checkpoint_header",
    "save_checkpoint",
    "state_bytes",
]

CHECKPOINT_FORMAT = 1
_KEYS = ("format", "architecture", "arguments", "metadata", "weights_sha256", "weights")


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint.

    Attributes
    ----------
    model : SegmentationModel
        Built from the registry with ``arguments``, weights loaded, in eval mode.
    architecture : str
        Registry name (see :func:`volseg.models.available_models`).
    arguments : dict
        Keyword arguments of the factory, e.g. ``{"in_channels": 1, "num_classes": 2}``.
    metadata : dict
        What training stored (class names, normalization, voxel size, training config,
        class weights, metrics, ``volseg_version``); plain JSON types.
    sha256 : str
        Hex sha256 of the stored weight bytes, the identity of these weights.
    alignment : int
        The model's input size multiple (32 for SegNet).
    path : pathlib.Path
        The file it was loaded from.
    in_channels, num_classes : int
        The model's input channels and output classes.
    info : ModelInfo
        The metadata that decides how the model is used (class names, normalization,
        logit offsets, voxel size), typed and checked at load.
    """

    model: SegmentationModel
    architecture: str
    arguments: dict[str, Any]
    metadata: dict[str, Any]
    sha256: str
    alignment: int
    path: Path
    in_channels: int
    num_classes: int
    info: ModelInfo


def _json_copy(value: dict[str, Any], what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"checkpoint {what} must be a dict, got {type(value).__name__}")
    try:
        out: dict[str, Any] = json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"checkpoint {what} must hold plain JSON types (dict, list, str, int, float, "
            f"bool, None): {exc}; convert numpy values with .tolist() or float()"
        ) from None
    return out


def _check_matches(model: nn.Module, architecture: str, arguments: dict[str, Any]) -> None:
    # Build on the meta device: shapes only, no memory, no init cost.
    with torch.device("meta"):
        reference = build_model(architecture, **arguments)
    want = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if want != have:
        diff = sorted(set(want.items()) ^ set(have.items()))[:4]
        raise ConfigError(
            f"the model does not match architecture {architecture!r} with arguments "
            f"{arguments}: differing parameters (name, shape) include {diff}; pass the "
            "architecture and arguments the model was built with"
        )


def state_bytes(model: nn.Module) -> bytes:
    """The bytes of ``torch.save(state_dict)`` (tensors on CPU, contiguous): the weight
    bytes a checkpoint stores and hashes; the same weights give the same bytes."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    *,
    architecture: str,
    arguments: dict[str, Any],
    metadata: dict[str, Any],
) -> str:
    """Write ``model``'s weights and metadata to one checkpoint file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (parent folders are created); an existing file is replaced.
    model : torch.nn.Module
        The trained model (any device, any memory format).
    architecture : str
        Registry name the model was built with, e.g. ``"segnet-lite"``.
    arguments : dict
        Keyword arguments it was built with, e.g. ``{"in_channels": 1, "num_classes": 2}``;
        :func:`load_checkpoint` rebuilds the model as ``build_model(architecture, **arguments)``.
    metadata : dict
        Plain JSON types: class names, input normalization (``{"mean": ..., "std": ...}``),
        voxel size, training config, class weights, final metrics. ``volseg_version`` is
        added (overwritten) here.

    Returns
    -------
    str
        Hex sha256 of the stored weight bytes (what :attr:`Checkpoint.sha256` reports).

    Raises
    ------
    ConfigError
        If the architecture is unknown, the arguments do not fit it or do not describe
        ``model``, or ``arguments``/``metadata`` hold non-JSON values.

    Notes
    -----
    The file is ``torch.save`` of ``{"format": 1, "architecture", "arguments", "metadata",
    "weights_sha256", "weights"}`` where ``weights`` is a 1-D uint8 tensor holding the bytes
    of ``torch.save(state_dict)`` (tensors moved to CPU, contiguous) and ``weights_sha256``
    is their sha256. It is written to a temporary file in the same folder, then renamed
    over ``path``, so a reader never sees a half-written checkpoint. The same weights give
    the same hash.
    """
    arguments = _json_copy(arguments, "arguments")
    metadata = _json_copy(metadata, "metadata")
    check_model_arguments(architecture, arguments)
    _check_matches(model, architecture, arguments)
    metadata["volseg_version"] = volseg.__version__

    raw = state_bytes(model)
    digest = hashlib.sha256(raw).hexdigest()
    payload = {
        "format": CHECKPOINT_FORMAT,
        "architecture": architecture,
        "arguments": arguments,
        "metadata": metadata,
        "weights_sha256": digest,
        "weights": torch.frombuffer(bytearray(raw), dtype=torch.uint8),
    }

    write_atomically(path, lambda f: torch.save(payload, f))
    return digest


def _read_torch_payload(path: Path) -> dict[str, Any]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"{path} is not a readable volseg checkpoint (truncated, corrupted or another "
            f"kind of file): {type(exc).__name__}: {str(exc)[:200]}; write it again with "
            "save_checkpoint or `volseg train`"
        ) from None
    if not isinstance(payload, dict) or any(k not in payload for k in _KEYS):
        raise CheckpointError(
            f"{path} is a torch file but not a volseg checkpoint (expected the keys "
            f"{list(_KEYS)}); write it with save_checkpoint"
        )
    weights = payload["weights"]
    if not isinstance(weights, torch.Tensor) or weights.dtype != torch.uint8 or weights.ndim != 1:
        raise CheckpointError(f"{path} is corrupted: its weights are not a byte tensor")
    return {**payload, "weights": weights.numpy().tobytes()}


def _read_payload(path: Path) -> dict[str, Any]:
    """The checkpoint's keys, ``weights`` as bytes; a bioimage.io package volseg wrote
    (a zip with ``rdf.yaml``; torch files are zips too) is read by its own reader."""
    if is_bioimageio_package(path):
        payload = read_bioimageio_payload(path)
    else:
        payload = _read_torch_payload(path)
    if payload["format"] != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} has checkpoint format {payload['format']!r}; this volseg "
            f"({volseg.__version__}) reads format {CHECKPOINT_FORMAT}"
        )
    return payload


@dataclass(frozen=True)
class CheckpointHeader:
    """What a checkpoint says about itself, read without building or loading its model.

    Attributes
    ----------
    path : pathlib.Path
        The file it was read from.
    architecture : str
        Registry name.
    arguments : dict
        Keyword arguments of the factory.
    in_channels, num_classes : int
        The model's input channels and output classes.
    info : ModelInfo
        Class names, normalization, logit offsets and voxel size, typed and checked.
    """

    path: Path
    architecture: str
    arguments: dict[str, Any]
    in_channels: int
    num_classes: int
    info: ModelInfo


def _architecture(file: Path, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The registered architecture and factory arguments a checkpoint's payload names."""
    architecture = payload["architecture"]
    if architecture not in available_models():
        raise CheckpointError(
            f"checkpoint {file} uses architecture {architecture!r}, which is not registered; "
            f"available: {', '.join(available_models())} (register it with register_model)"
        )
    return architecture, dict(payload["arguments"])


def read_checkpoint_header(path: str | os.PathLike[str]) -> CheckpointHeader:
    """Read a checkpoint's architecture, channel counts and metadata, not its model.

    The file is read as :func:`load_checkpoint` reads it (a checkpoint or a bioimage.io
    package volseg exported), but the weights are neither hashed nor loaded and the model
    is built on the ``meta`` device (shapes only), so inputs can be checked against the
    model before any time is spent on it.

    Raises
    ------
    InputNotFoundError
        If ``path`` does not exist.
    CheckpointError
        If the file is not a volseg checkpoint, its architecture is not registered or its
        arguments do not rebuild it, or its metadata is malformed.

    Notes
    -----
    A file whose header reads but whose weights are corrupted passes here;
    :func:`load_checkpoint` refuses it.
    """
    file = Path(path)
    if not file.is_file():
        raise InputNotFoundError(f"checkpoint not found: {file} does not exist or is not a file")
    payload = _read_payload(file)
    architecture, arguments = _architecture(file, payload)
    try:
        with torch.device("meta"):
            model = build_model(architecture, **arguments)
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint {file}: cannot rebuild its model: {exc}") from None
    info = ModelInfo.parse(
        dict(payload["metadata"]), num_classes=model.num_classes, source=str(file)
    )
    return CheckpointHeader(
        path=file,
        architecture=architecture,
        arguments=arguments,
        in_channels=int(model.in_channels),
        num_classes=int(model.num_classes),
        info=info,
    )


def _check_use(
    path: Path, model: SegmentationModel, what: str, asked: int | None, fix: str
) -> None:
    have = int(getattr(model, what))
    if asked is not None and asked != have:
        raise CheckpointError(
            f"checkpoint {path} has {what}={have} but {what}={asked} was asked; {fix}"
        )


def load_checkpoint(
    path: str | os.PathLike[str],
    *,
    expected_sha256: str | None = None,
    in_channels: int | None = None,
    num_classes: int | None = None,
    map_location: str | torch.device = "cpu",
) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint`, checking its weights hash.

    A bioimage.io model package written by :func:`volseg.models.export_bioimageio` (a
    ``.zip``) loads the same way and gives the same model, sha256 and metadata.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file, or a bioimage.io package volseg exported.
    expected_sha256 : str, optional
        Refuse the file unless its weights have this hex sha256 (e.g. the hash recorded in
        a run's provenance, so a resumed run uses the very same weights).
    in_channels, num_classes : int, optional
        What the caller will feed / expects; refuse a checkpoint that differs.
    map_location : str or torch.device, default "cpu"
        Device to put the model on.

    Returns
    -------
    Checkpoint
        With the model in eval mode on ``map_location``.

    Raises
    ------
    InputNotFoundError
        If ``path`` does not exist.
    CheckpointError
        If the file is not a checkpoint, is truncated, its weights do not hash to the
        stored sha256 (corrupted) or to ``expected_sha256``, its architecture is not
        registered, or its ``in_channels``/``num_classes`` differ from those asked; or it
        is a bioimage.io package that volseg did not write (the message says what it needs).

    Notes
    -----
    Both the file and the weight bytes inside are read with ``torch.load(weights_only=True)``,
    so loading never runs code from the file. A package's ``rdf.yaml`` is read with
    ``yaml.safe_load``; its weights must hash to the sha256 the package states.
    """
    file = Path(path)
    if not file.is_file():
        raise InputNotFoundError(f"checkpoint not found: {file} does not exist or is not a file")
    payload = _read_payload(file)
    raw = payload["weights"]
    digest = hashlib.sha256(raw).hexdigest()
    if digest != payload["weights_sha256"]:
        raise CheckpointError(
            f"checkpoint {file} is corrupted: its weights hash to sha256 {digest} but the "
            f"file records {payload['weights_sha256']}; restore it from a good copy"
        )
    if expected_sha256 is not None and digest != expected_sha256.strip().lower():
        raise CheckpointError(
            f"checkpoint {file} has weights sha256 {digest} but {expected_sha256} was "
            "expected; use the checkpoint the run was started with, or drop the expected hash"
        )
    architecture, arguments = _architecture(file, payload)
    try:
        model = build_model(architecture, **arguments)
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint {file}: cannot rebuild its model: {exc}") from None
    metadata = dict(payload["metadata"])
    info = ModelInfo.parse(metadata, num_classes=model.num_classes, source=str(file))
    _check_use(
        file,
        model,
        "in_channels",
        in_channels,
        f"feed {model.in_channels} channel(s) per image (2.5D: that many "
        "neighbouring slices), or train a model for the input you have",
    )
    _check_use(
        file,
        model,
        "num_classes",
        num_classes,
        f"it predicts {model.num_classes} classes ({', '.join(info.classes)}); use a "
        "checkpoint trained for your classes, or ask for the checkpoint's",
    )
    try:
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    except Exception as exc:
        raise CheckpointError(
            f"checkpoint {file}: its weights do not fit architecture {architecture!r} with "
            f"arguments {arguments}: {type(exc).__name__}: {str(exc)[:300]}"
        ) from None
    model.to(map_location)
    model.eval()
    return Checkpoint(
        model=model,
        architecture=architecture,
        arguments=arguments,
        metadata=metadata,
        sha256=digest,
        alignment=model.alignment,
        path=file,
        in_channels=model.in_channels,
        num_classes=model.num_classes,
        info=info,
    )
