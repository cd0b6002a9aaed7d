"""OME-Zarr 0.5 metadata and the default chunking/compression of volseg stores.

Layout of a store (zarr v3)::

    OUT.zarr/                 group: ome.multiscales (image), volseg (provenance, completeness)
      0/ 1/ ...               image levels, dimension_names (z, y, x)
      labels/                 group: ome.labels = [names]
        <name>/               group: ome.multiscales + ome.image-label + ome.omero (display),
                              volseg (classes, complete)
          0/ 1/ ...           label levels, same shapes as the image levels

How napari-ome-zarr (0.10) turns this into layers, and why the metadata is shaped so: a
label image's layer name is ``labels<group path>`` (``labels/labels/<name>``) unless the
group has ``omero`` metadata, whose first channel names the layer
``"<multiscales name>: <channel label>"``, or just ``"<channel label>"`` when the
multiscales has no name. Label images therefore carry a one-channel ``omero`` block named
after the label image and no multiscales ``name`` (a SHOULD of the spec, not a MUST), so
the layer is called ``ground_truth``, ``segmentation`` or ``soma_objects``. Every
``image-label`` property key becomes one napari property column, so each must be a
scalar. The image keeps its multiscales name and no ``omero``: napari names it after the
store's file name.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from zarr.codecs import BloscCodec, Crc32cCodec

from volseg.errors import ConfigError

OME_VERSION = "0.5"
AXES = ("z", "y", "x")
UNIT = "micrometer"
#: Chunk edge in y and x: a multiple of every model alignment (SegNet: 32), large enough
#: that a 2D tile is read from few chunks.
CHUNK_YX = 512
#: Target uncompressed bytes per chunk; z depth follows from it and the dtype.
CHUNK_BYTES = 4 * 2**20
#: A class palette (RGBA) for label values 0, 1, 2, ...: transparent background first.
PALETTE = (
    (0, 0, 0, 0),
    (255, 64, 64, 255),
    (64, 160, 255, 255),
    (255, 200, 0, 255),
    (64, 220, 64, 255),
    (200, 64, 255, 255),
    (0, 220, 220, 255),
    (255, 128, 192, 255),
)


def default_chunks(shape: Sequence[int], dtype: np.dtype | str) -> tuple[int, int, int]:
    """Chunks for streaming 2D tiles: ``CHUNK_YX`` in y/x, about ``CHUNK_BYTES`` per chunk.

    Examples
    --------
    >>> default_chunks((1800, 2300, 1920), "uint8")
    (16, 512, 512)
    >>> default_chunks((5, 100, 2000), "float32")
    (4, 100, 512)
    """
    itemsize = np.dtype(dtype).itemsize
    cz = max(1, CHUNK_BYTES // (CHUNK_YX * CHUNK_YX * itemsize))
    z, y, x = shape
    return (max(1, min(cz, z)), max(1, min(CHUNK_YX, y)), max(1, min(CHUNK_YX, x)))


def level_shapes(shape: Sequence[int], levels: int) -> list[tuple[int, ...]]:
    """Shapes of a pyramid of ``levels`` levels, halving each axis that is longer than 1."""
    shapes = [tuple(int(s) for s in shape)]
    for _ in range(levels - 1):
        shapes.append(tuple(max(1, s // 2) for s in shapes[-1]))
    return shapes


def level_factors(shapes: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    """The integer downsampling factor of each level relative to level 0.

    An axis is halved from one level to the next while it is longer than 1.
    """
    factors = [tuple(1 for _ in shapes[0])]
    for prev in shapes[:-1]:
        factors.append(
            tuple(f * (2 if s > 1 else 1) for f, s in zip(factors[-1], prev, strict=True))
        )
    return factors


def compressors(dtype: np.dtype | str, *, labels: bool = False) -> tuple[BloscCodec, Crc32cCodec]:
    """The bytes codecs of an array volseg keeps: a fast compressor, then a crc32c checksum.

    blosc-lz4 for images; blosc-zstd + bit shuffle for (very sparse) labels. The checksum
    makes a flipped or truncated chunk an error on read, never data (design invariant 8).
    """
    if labels:
        return BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle"), Crc32cCodec()
    shuffle: Literal["shuffle", "bitshuffle"] = (
        "shuffle" if np.dtype(dtype).itemsize > 1 else "bitshuffle"
    )
    return BloscCodec(cname="lz4", clevel=5, shuffle=shuffle), Crc32cCodec()


def scratch_compressors() -> tuple[BloscCodec, Crc32cCodec]:
    """The codecs of a run's temporary arrays (written once, read a few times, deleted):
    blosc-lz4 at level 1 with bit shuffle, speed over size, and the crc32c checksum."""
    return BloscCodec(cname="lz4", clevel=1, shuffle="bitshuffle"), Crc32cCodec()


def multiscales(
    name: str | None, voxel_size: Sequence[float], factors: Sequence[Sequence[int]]
) -> list[dict[str, Any]]:
    """The ``multiscales`` metadata of an image or label image (no ``name`` if ``None``).

    Level ``k`` has scale ``voxel_size * factor`` and a translation of ``(factor - 1) / 2``
    voxels, so that the centre of a downsampled voxel sits at the centre of the voxels it
    summarizes.
    """
    datasets = []
    for level, factor in enumerate(factors):
        scale = [float(v) * f for v, f in zip(voxel_size, factor, strict=True)]
        transforms: list[dict[str, Any]] = [{"type": "scale", "scale": scale}]
        if any(f > 1 for f in factor):
            transforms.append(
                {
                    "type": "translation",
                    "translation": [
                        float(v) * (f - 1) / 2 for v, f in zip(voxel_size, factor, strict=True)
                    ],
                }
            )
        datasets.append({"path": str(level), "coordinateTransformations": transforms})
    multiscale: dict[str, Any] = {} if name is None else {"name": name}
    multiscale["axes"] = [{"name": a, "type": "space", "unit": UNIT} for a in AXES]
    multiscale["datasets"] = datasets
    return [multiscale]


def label_omero(name: str) -> dict[str, Any]:
    """The ``omero`` display metadata of label image ``name``: one channel, named ``name``.

    It is what gives the label layer its name in napari-ome-zarr (see the module notes).
    No ``window``: the plugin would pass it on as contrast limits, which napari's Labels
    layer does not take. ``color`` is required by the plugin; the layer's colours come from
    ``image-label``.
    """
    return {"channels": [{"label": name, "color": "FFFFFF", "active": True}]}


def image_label(classes: Sequence[str], colors: Sequence[Sequence[int]] | None) -> dict[str, Any]:
    """The ``image-label`` metadata: a colour and a class name for every label value."""
    palette = (
        colors if colors is not None else [PALETTE[i % len(PALETTE)] for i in range(len(classes))]
    )
    if len(palette) != len(classes):
        raise ConfigError(
            f"{len(classes)} classes but {len(palette)} colours; give one colour per class"
        )
    return {
        "version": OME_VERSION,
        "colors": [
            {"label-value": i, "rgba": [int(c) for c in rgba]} for i, rgba in enumerate(palette)
        ],
        "properties": [{"label-value": i, "class": name} for i, name in enumerate(classes)],
        "source": {"image": "../../"},
    }


def object_colors(ids: Sequence[int]) -> list[dict[str, Any]]:
    """``image-label`` colours for object ids: hues a golden ratio of the colour circle
    apart, so that consecutive ids look different.

    Value 0 gets none: it is no object (and ``image-label`` validators want the colours to
    list the values the properties list); readers draw it as transparent background.

    Examples
    --------
    >>> [c["rgba"] for c in object_colors([1, 2])]
    [[89, 138, 255, 255], [186, 255, 89, 255]]
    """
    colors = []
    for i in ids:
        rgb = colorsys.hsv_to_rgb((int(i) * 0.618033988749895) % 1.0, 0.65, 1.0)
        colors.append({"label-value": int(i), "rgba": [round(255 * c) for c in rgb] + [255]})
    return colors


def scale_and_translation(
    level_meta: dict[str, Any],
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Read (scale, translation) back from one ``datasets`` entry."""
    scale: tuple[float, ...] = (1.0, 1.0, 1.0)
    translation: tuple[float, ...] = (0.0, 0.0, 0.0)
    for t in level_meta.get("coordinateTransformations", []):
        if t.get("type") == "scale":
            scale = tuple(float(v) for v in t["scale"])
        elif t.get("type") == "translation":
            translation = tuple(float(v) for v in t["translation"])
    return scale, translation


def nbytes_human(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    if n <= 0:
        return "0 B"
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    k = min(len(units) - 1, int(math.log(n, 1024)))
    return f"{n / 1024**k:.1f} {units[k]}" if k else f"{int(n)} B"
