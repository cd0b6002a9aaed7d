"""The files of a bioimage.io package besides its weights: test image, cover, README."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from volseg.errors import ConfigError, InputError
from volseg.models._checkpoint import Checkpoint

__all__ = ["channel_names", "cover_image", "normalization", "package_input", "readme"]

#: Largest edge of the test image (px): small, so tools test the package in seconds.
TEST_EDGE = 256
# Class colours of the cover (RGB), background first; repeated beyond.
_COLOURS = np.array(
    [[0, 0, 0], [230, 159, 0], [86, 180, 233], [0, 158, 115], [240, 228, 66], [204, 121, 167]],
    np.uint8,
)


def normalization(checkpoint: Checkpoint) -> tuple[float, float]:
    """The input ``(mean, std)`` the package normalizes with: the checkpoint's.

    Raises
    ------
    ConfigError
        A checkpoint without one (not trained by volseg).
    """
    if checkpoint.info.normalization is None:
        raise ConfigError(
            f"checkpoint {checkpoint.path} has no input normalization (metadata"
            "['normalization'] = {'mean', 'std'}); train it with `volseg train`"
        )
    return checkpoint.info.normalization


def channel_names(in_channels: int) -> list[str]:
    """Input channel names: ``image``, or the 2.5D slices ``z-1, z, z+1``."""
    if in_channels == 1:
        return ["image"]
    half = (in_channels - 1) // 2
    return ["z" if k == 0 else f"z{k:+d}" for k in range(-half, in_channels - half)]


def _synthetic(channels: int, edge: int, mean: float, std: float) -> np.ndarray:
    """Blobs on a background with noise, standardized to the checkpoint's normalization.
    The noise matters: on a smooth image, max-pooling windows hold near-ties that float
    rounding decides, and SegNet's unpooling then moves values between tools."""
    y, x = np.mgrid[0:edge, 0:edge].astype(np.float64) / edge
    noise = np.random.default_rng(0).normal(0.0, 0.25, (channels, edge, edge))
    planes = []
    for c in range(channels):
        blobs = sum(
            np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r**2))
            for cy, cx, r in ((0.3, 0.35, 0.08), (0.65, 0.7, 0.12), (0.7, 0.25, 0.05))
        )
        plane = blobs + 0.15 * np.sin(9 * y + 0.5 * c) * np.cos(7 * x) + noise[c]
        planes.append((plane - plane.mean()) / plane.std())
    return (mean + std * np.stack(planes)).astype(np.float32)


def package_input(
    checkpoint: Checkpoint, min_size: int, step: int, sample: str | os.PathLike[str] | None
) -> np.ndarray:
    """The package's test input ``(1, in_channels, S, S)``, float32 raw intensities.

    ``S`` is the largest valid size (``min_size + n * step``) up to :data:`TEST_EDGE` that
    fits the image. From ``sample`` (a slice stack as `volseg ingest` reads it): the
    centre of its middle slices (``in_channels`` neighbouring slices for 2.5D); without
    one, smooth synthetic blobs with the checkpoint's mean and std.

    Raises
    ------
    InputError
        A sample with fewer slices than the model's channels, or smaller than ``min_size``.
    """
    mean, std = normalization(checkpoint)
    c = checkpoint.in_channels
    if sample is None:
        edge = min_size + (TEST_EDGE - min_size) // step * step
        return _synthetic(c, edge, mean, std)[None]
    from volseg.io import open_source

    source = open_source(Path(sample))
    depth, h, w = source.shape
    if depth < c:
        raise InputError(
            f"sample {sample} has {depth} slice(s) but the model takes {c} neighbouring "
            f"slices as channels; give a stack of at least {c} slices"
        )
    if min(h, w) < min_size:
        raise InputError(
            f"sample {sample} has slices of {h} x {w} px; the package's smallest input is "
            f"{min_size} x {min_size} px: give a larger sample"
        )
    edge = min_size + (min(h, w, TEST_EDGE) - min_size) // step * step
    z0, y0, x0 = (depth - c) // 2, (h - edge) // 2, (w - edge) // 2
    planes = [source.read(z)[y0 : y0 + edge, x0 : x0 + edge] for z in range(z0, z0 + c)]
    return np.stack(planes).astype(np.float32)[None]


def _grey(plane: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(plane, (0.5, 99.5))
    scaled = (plane - lo) / (hi - lo) if hi > lo else np.zeros_like(plane)
    return (np.clip(scaled, 0, 1) * 255).astype(np.uint8)


def cover_image(path: Path, image: np.ndarray, probabilities: np.ndarray) -> Path:
    """A 2:1 PNG: the test input's centre channel beside its labels (argmax, coloured)."""
    centre = _grey(image[0, image.shape[1] // 2])
    labels = probabilities[0].argmax(0)
    colours = _COLOURS[labels % len(_COLOURS)]
    both = np.concatenate([np.repeat(centre[..., None], 3, axis=2), colours], axis=1)
    Image.fromarray(both).save(path)
    return path


def readme(
    checkpoint: Checkpoint, *, name: str, halo: int, min_size: int, classes: list[str]
) -> str:
    """The package's documentation: what the model is, how it was trained and validated,
    and how to run it (with volseg or any bioimage.io tool)."""
    meta = checkpoint.metadata
    mean, std = normalization(checkpoint)
    metrics = meta.get("metrics")
    training = meta.get("training")
    validation = (
        "Metrics of the saved epoch on the training run's validation images (accuracy, "
        "per-class IoU and BF1), as the checkpoint records them:\n\n```json\n"
        + json.dumps(metrics, indent=2)
        + "\n```"
        if metrics
        else "The checkpoint records no validation metrics. Validate the model on annotated "
        "slices it was not trained on, e.g. with `volseg segment` and `volseg evaluate`."
    )
    return f"""# {name}

A 2D semantic segmentation network exported by volseg from a checkpoint
(weights sha256 `{checkpoint.sha256}`).

- **Architecture:** `{checkpoint.architecture}` with arguments
  `{json.dumps(checkpoint.arguments)}`; alignment {checkpoint.alignment} px.
- **Input:** `(batch, channel, y, x)` raw intensities, {checkpoint.in_channels} channel(s)
  ({", ".join(channel_names(checkpoint.in_channels))}); y and x at least {min_size} px, in
  steps of {checkpoint.alignment} px. The package normalizes with the training data's fixed
  mean {mean:.6g} and standard deviation {std:.6g}
  (`fixed_zero_mean_unit_variance`).
- **Output:** `(batch, class, y, x)` class probabilities for {", ".join(classes)}. They are
  the softmax of the logits plus the stored logit offsets, which undo the class weighting
  of training, so their argmax is the label volseg decides. Discard {halo} px (the halo)
  at the border of each tile when tiling.

## Training

Training source: `{meta.get("train_source", "not recorded")}`; epoch {meta.get("epoch", "-")}.
Resolved training configuration:

```json
{json.dumps(training, indent=2) if training else "not recorded"}
```

## Validation

{validation}

## Use

With volseg: `volseg segment VOLUME.zarr --model this-package.zip --out OUT.zarr` gives the
same labels as the original checkpoint. With bioimage.io tools (bioimageio.core, ilastik,
deepImageJ): TorchScript weights need no volseg; `pytorch_state_dict` weights need
`pip install volseg` (the architecture is `volseg.models.bioimageio_network`).
"""
