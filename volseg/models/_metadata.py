"""The typed view of what a checkpoint's metadata says about using the model."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from volseg.errors import CheckpointError

__all__ = ["ModelInfo"]


def _floats(value: Any, n: int | None) -> tuple[float, ...] | None:
    if not isinstance(value, list | tuple) or (n is not None and len(value) != n):
        return None
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return out if all(math.isfinite(v) for v in out) else None


@dataclass(frozen=True)
class ModelInfo:
    """What a checkpoint tells its users, parsed and checked once when it is loaded.

    Attributes
    ----------
    classes : tuple of str
        One name per output class (``"class 0"``, ``"class 1"``, ... when training named
        none).
    normalization : (float, float) or None
        ``(mean, std)`` of the input as training normalized it; ``None`` for a model that
        was not trained by volseg (inference refuses it).
    logit_offsets : tuple of float or None
        Per-class offsets added before the decision (undo class weighting).
    voxel_size : (float, float, float) or None
        ``(z, y, x)`` in micrometres of the images it was trained on, when known.
    """

    classes: tuple[str, ...]
    normalization: tuple[float, float] | None
    logit_offsets: tuple[float, ...] | None
    voxel_size: tuple[float, float, float] | None

    @classmethod
    def parse(cls, metadata: Mapping[str, Any], *, num_classes: int, source: str) -> ModelInfo:
        """Read ``metadata``; a present but malformed entry is a :class:`CheckpointError`.

        Parameters
        ----------
        metadata
            A checkpoint's metadata dict.
        num_classes
            The model's output classes (class names and offsets must have one per class).
        source
            The checkpoint, named in errors.
        """

        def bad(key: str, want: str) -> CheckpointError:
            return CheckpointError(
                f"checkpoint {source}: metadata[{key!r}] = {metadata[key]!r} is not {want}; "
                "re-save the checkpoint with volseg, or fix that entry"
            )

        names = metadata.get("classes")
        if names is None:
            classes = tuple(f"class {i}" for i in range(num_classes))
        elif (
            isinstance(names, list | tuple)
            and len(names) == num_classes
            and all(isinstance(n, str) and n for n in names)
        ):
            classes = tuple(names)
        else:
            raise bad("classes", f"a list of {num_classes} class names")
        norm = metadata.get("normalization")
        normalization: tuple[float, float] | None = None
        if norm is not None:
            pair = (
                _floats([norm.get("mean"), norm.get("std")], 2) if isinstance(norm, dict) else None
            )
            if pair is None or pair[1] <= 0:
                raise bad("normalization", "{'mean': float, 'std': float > 0}")
            normalization = (pair[0], pair[1])
        offsets = None
        if metadata.get("logit_offsets") is not None:
            offsets = _floats(metadata["logit_offsets"], num_classes)
            if offsets is None:
                raise bad("logit_offsets", f"{num_classes} finite numbers (one per class)")
        voxel = None
        if metadata.get("voxel_size") is not None:
            vs = _floats(metadata["voxel_size"], 3)
            if vs is None or min(vs) <= 0:
                raise bad("voxel_size", "three positive numbers (z, y, x) in micrometres")
            voxel = (vs[0], vs[1], vs[2])
        return cls(classes, normalization, offsets, voxel)
