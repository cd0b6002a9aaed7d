"""The reconstruction job: one frozen, validated config, built once where the job starts
(the command line, or the keyword options of :func:`reconstruct`) and stored, resolved, in
the output's provenance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import Field, field_validator

from volseg.config import FrozenConfig, validated
from volseg.reconstruct._options import (
    DEFAULT_FORMATS,
    BorderPolicy,
    Connectivity,
    MeshFormat,
    SkeletonMode,
)

__all__ = ["ComponentsConfig", "ReconstructConfig", "make_config"]

C = TypeVar("C", bound="ComponentsConfig")


class ComponentsConfig(FrozenConfig):
    """What decides the objects of :func:`~volseg.reconstruct.reconstruct_components`.

    ``classes`` None takes ``"soma"`` when the labels have it, else class 1; a single name
    is a one-class list. ``block_shape`` None derives blocks from the labels' chunks.
    """

    labels: str = "segmentation"  #: the label image of class ids
    classes: tuple[str, ...] | None = None  #: the classes making the objects (one foreground)
    connectivity: Connectivity = 26
    block_shape: tuple[int, int, int] | None = None  #: voxels per task, whole chunks
    min_voxels: int = Field(0, ge=0)  #: smaller objects are dropped (dust)
    border: BorderPolicy = "keep"  #: objects touching the volume's outer faces

    @field_validator("classes", mode="before")
    @classmethod
    def _one_class(cls, value: object) -> object:
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(dict.fromkeys(value))  # each class once, in the order given
        return value


class ReconstructConfig(ComponentsConfig):
    """What decides everything :func:`~volseg.reconstruct.reconstruct` writes: the objects
    (:class:`ComponentsConfig`), their meshes and their skeletons.

    ``formats`` may be given as ``"ply,glb"``; names are lower-cased and kept once.
    ``simplify`` None keeps every face.
    """

    meshes: bool = True  #: write a mesh per object
    formats: tuple[MeshFormat, ...] = DEFAULT_FORMATS
    skeletons: SkeletonMode = "elongated"  #: which objects get an SWC skeleton
    min_elongation: float = 3.0  #: from which elongation "elongated" skeletonizes
    smooth_iterations: int = Field(10, ge=0)  #: Taubin smoothing rounds of the meshes
    simplify: float | None = Field(None, gt=0, le=1)  #: fraction of mesh faces kept

    @field_validator("formats", mode="before")
    @classmethod
    def _format_names(cls, value: object) -> object:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(dict.fromkeys(v.lower() for v in value))
        return value


def make_config(kind: type[C], config: C | None, options: Mapping[str, Any], *, what: str) -> C:
    """``config``, or a ``kind`` built from ``options``: the one place a reconstruction's
    options are validated.

    ``config`` and ``options`` together: the options replace those fields of ``config``
    (validated again). A ``ReconstructConfig`` serves where a ``ComponentsConfig`` is
    asked for.

    Raises
    ------
    ConfigError
        Names every invalid or unknown option (``what``: how the options are named).
    """
    if config is None:
        return validated(kind, dict(options), what=what)
    if not isinstance(config, kind):
        raise TypeError(f"config must be a {kind.__name__}, got {type(config).__name__}")
    return validated(config.model_copy, {"update": dict(options)}, what=what) if options else config
