"""Boundary-F1 result types: raw counts (they add up) and the scores derived from them."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BF1Counts:
    """Boundary match counts, the additive part of a boundary F1 score.

    Counts of disjoint regions (slabs of a volume, images of a set scored as one) add up
    with ``+`` or :func:`sum`; derive the scores once with :meth:`BF1Scores.from_counts`.

    Attributes
    ----------
    matched_pred : int
        Predicted boundary pixels with a ground-truth boundary pixel within tolerance.
    n_pred : int
        Predicted boundary pixels.
    matched_gt : int
        Ground-truth boundary pixels with a predicted boundary pixel within tolerance.
    n_gt : int
        Ground-truth boundary pixels.
    """

    matched_pred: int
    n_pred: int
    matched_gt: int
    n_gt: int

    def __add__(self, other: BF1Counts) -> BF1Counts:
        if not isinstance(other, BF1Counts):
            return NotImplemented
        return BF1Counts(
            self.matched_pred + other.matched_pred,
            self.n_pred + other.n_pred,
            self.matched_gt + other.matched_gt,
            self.n_gt + other.n_gt,
        )

    def __radd__(self, other: object) -> BF1Counts:
        # lets the builtin sum() start from 0
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented


@dataclass(frozen=True, slots=True)
class BF1Scores:
    """Boundary precision, recall and F1 score (MATLAB ``bfscore`` conventions).

    Attributes
    ----------
    precision : float
        Matched / all predicted boundary pixels; NaN when the prediction is empty.
    recall : float
        Matched / all ground-truth boundary pixels; NaN when the ground truth is empty.
    score : float
        ``2PR / (P + R)``; NaN when either mask is empty, 0 when both are non-empty and
        nothing matched.
    """

    precision: float
    recall: float
    score: float

    @classmethod
    def from_counts(cls, counts: BF1Counts) -> BF1Scores:
        """Scores from (possibly summed) counts.

        Examples
        --------
        >>> from volseg.metrics import BF1Counts, BF1Scores
        >>> BF1Scores.from_counts(BF1Counts(matched_pred=3, n_pred=4, matched_gt=1, n_gt=2))
        BF1Scores(precision=0.75, recall=0.5, score=0.6)
        """
        c = counts
        precision = c.matched_pred / c.n_pred if c.n_pred else math.nan
        recall = c.matched_gt / c.n_gt if c.n_gt else math.nan
        if not (c.n_pred and c.n_gt):
            score = math.nan
        elif precision + recall == 0:
            score = 0.0
        else:
            score = 2 * precision * recall / (precision + recall)
        return cls(precision, recall, score)
