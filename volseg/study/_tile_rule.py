"""What a tile study sweeps by default, on which slices, and how it chooses: the fastest
setting whose labels stay within a tolerance of a single whole-slice pass."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, get_args

from volseg.errors import ConfigError
from volseg.infer import single_pass_tile
from volseg.tiling import Device, WindowKind

__all__ = [
    "DEFAULT_IOU_TOLERANCE",
    "DEFAULT_OVERLAPS",
    "DEFAULT_TOLERANCE",
    "MAX_SAMPLE_SLICES",
    "SAMPLE_PIXELS",
    "TILE_CANDIDATES",
    "WINDOWS",
    "choice_rule",
    "choose_tiling",
    "default_tiles",
    "sample_slices",
]

#: Largest fraction of labels a chosen setting may change against a single pass (0.1 %).
DEFAULT_TOLERANCE = 0.001
#: With ground truth: how far below the single pass's IoU (class of interest) it may score.
DEFAULT_IOU_TOLERANCE = 0.002
#: Overlaps swept by default, as fractions of the tile (see :func:`volseg.tiling.derive_tiling`).
DEFAULT_OVERLAPS: tuple[float, ...] = (0.0, 0.125, 0.25)
WINDOWS: tuple[WindowKind, ...] = get_args(WindowKind)
#: Default tile edges (before rounding to the model alignment), around DEFAULT_TILE. Fewer
#: on CPU, where every run is slow and small tiles lose most to context and overlap
#: (32 px of context around 256 px is 56 % more pixels per pass, around 512 px 27 %).
TILE_CANDIDATES = {"cpu": (512, 1024), "cuda": (256, 512, 1024, 2048)}
#: Pixels of the default sample (whole slices; at least one, at most MAX_SAMPLE_SLICES).
SAMPLE_PIXELS = {"cpu": 2**21, "cuda": 2**24}
MAX_SAMPLE_SLICES = 3


def default_tiles(*, alignment: int, device: Device, plane: tuple[int, int]) -> list[int]:
    """Tile edges to sweep: :data:`TILE_CANDIDATES` of the device rounded up to the model
    alignment, those smaller than one tile covering the slice (the single pass, always
    measured); on slices smaller than every candidate, half the slice."""
    whole = single_pass_tile(plane, alignment)
    tiles = {-(-t // alignment) * alignment for t in TILE_CANDIDATES[device]}
    out = sorted(t for t in tiles if t < whole)
    if not out:
        half = -(-max(plane) // 2 // alignment) * alignment
        out = [half] if alignment <= half < whole else []
    return out


def sample_slices(depth: int, plane: tuple[int, int], *, device: Device) -> list[int]:
    """Evenly spaced slices (centres of equal z ranges) holding about
    :data:`SAMPLE_PIXELS` px: at least one, at most :data:`MAX_SAMPLE_SLICES`."""
    n = min(MAX_SAMPLE_SLICES, depth, max(1, SAMPLE_PIXELS[device] // (plane[0] * plane[1])))
    return sorted({int((i + 0.5) * depth / n) for i in range(n)})


def choose_tiling(
    rows: Sequence[Mapping[str, Any]],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    iou: str | None = None,
    iou_tolerance: float = DEFAULT_IOU_TOLERANCE,
) -> int:
    """Index of the fastest setting within tolerance.

    Parameters
    ----------
    rows : sequence of mapping
        One per setting, with ``voxels_per_s`` and ``disagreement`` (fraction of labels
        that differ from the single pass); with ``iou``, that column and one row with
        ``reference`` true (the single pass).
    tolerance : float
        Largest allowed ``disagreement`` (inclusive).
    iou : str, optional
        Column of the class-of-interest IoU against ground truth; a setting must score at
        least the reference's value minus ``iou_tolerance``.
    iou_tolerance : float
        See ``iou``.

    Returns
    -------
    int
        The row with the highest ``voxels_per_s`` among those that qualify; ties go to the
        smaller disagreement, then to the earlier row.

    Raises
    ------
    ConfigError
        No row qualifies (never in a study: the single pass always does), or ``iou`` is
        given without a reference row.
    """
    floor = -math.inf
    if iou is not None:
        refs = [r for r in rows if r.get("reference")]
        if not refs:
            raise ConfigError("choose_tiling: an IoU criterion needs the reference row")
        floor = float(refs[0][iou]) - iou_tolerance
    ok = [
        i
        for i, r in enumerate(rows)
        if r["disagreement"] <= tolerance and (iou is None or float(r[iou]) >= floor)
    ]
    if not ok:
        raise ConfigError(
            f"no setting changes at most {tolerance:.4%} of the labels; raise the tolerance "
            "or add larger overlaps"
        )
    return min(ok, key=lambda i: (-rows[i]["voxels_per_s"], rows[i]["disagreement"], i))


def choice_rule(
    tolerance: float, cls: str | None, iou_tolerance: float | None, repeats: int
) -> str:
    text = (
        f"the fastest setting (voxels/s, best of {repeats} timed run(s), warm-up excluded) whose "
        f"labels differ from a single whole-slice pass on at most {tolerance:.3%} of the pixels"
    )
    if cls is not None and iou_tolerance is not None:
        text += f" and whose IoU({cls}) is at most {iou_tolerance:g} below the single pass's"
    return text
