"""What predicting a block gives: its outputs, filled slice by slice, and its stats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from volseg.geometry import Box
from volseg.infer._blend import ProbabilityDtype

__all__ = ["BlockOutputs", "BlockResult", "BlockStats", "Output"]

Output = Literal["labels", "probabilities", "uncertainty"]


@dataclass(frozen=True)
class BlockStats:
    """What predicting one block took.

    ``tiles_run`` counts (slice, tile) pairs sent through the model, ``tiles_skipped``
    those skipped as empty, ``padded_slots`` the filler inputs that completed the last
    batch, ``seconds`` the wall time of :meth:`BlockPredictor.predict`.
    """

    tiles_run: int
    tiles_skipped: int
    forward_passes: int
    padded_slots: int
    seconds: float


@dataclass(frozen=True)
class BlockResult:
    """The outputs of one block, cropped to ``box``.

    ``labels`` is ``(z, y, x)`` uint8; ``probabilities`` ``(classes, z, y, x)`` float16 or
    uint8 (``round(255 p)``); ``uncertainty`` ``(z, y, x)`` float16 in ``[0, 1]``. Outputs not
    asked for are ``None``.
    """

    box: Box
    labels: np.ndarray
    probabilities: np.ndarray | None
    uncertainty: np.ndarray | None
    stats: BlockStats


class BlockOutputs:
    """The outputs of a block, filled one slice at a time."""

    def __init__(
        self,
        shape: tuple[int, ...],
        num_classes: int,
        outputs: frozenset[Output],
        probability_dtype: ProbabilityDtype,
    ) -> None:
        self.labels = np.zeros(shape, np.uint8)
        self.probabilities = (
            np.zeros((num_classes, *shape), probability_dtype)
            if "probabilities" in outputs
            else None
        )
        self.uncertainty = np.zeros(shape, np.float16) if "uncertainty" in outputs else None
