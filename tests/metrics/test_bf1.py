"""Boundary F1: MATLAB bfscore conventions, hand-computed values, shifts, input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from volseg.errors import InputError
from volseg.metrics import (
    BF1Counts,
    BF1Scores,
    bf1,
    bf1_counts,
    bf1_per_class,
    bf1_scores,
    bf1_table,
    mean_ignoring_nan,
)
from volseg.metrics._reference import bf1_counts_reference


def _square(shift: int = 0) -> np.ndarray:
    m = np.zeros((40, 44), bool)
    m[10:30, 10 + shift : 30 + shift] = True  # 20 x 20: 76 boundary pixels
    return m


def _line(shift: int = 0) -> np.ndarray:
    m = np.zeros((20, 30), bool)
    m[8 + shift, :] = True
    return m


def test_hand_computed_small_square_shifted_by_two():
    gt = np.zeros((8, 8), bool)
    gt[2:6, 2:6] = True
    pred = np.zeros_like(gt)
    pred[2:6, 4:8] = True
    # pred top/bottom rows: x = 4, 5 on the gt row, 6 at distance 1, 7 at distance 2 (no);
    # left column x = 4 is 1 px from the gt right column x = 5; right column x = 7 is 2 px
    c = bf1_counts(pred, gt)
    assert c == BF1Counts(matched_pred=3 + 3 + 2, n_pred=12, matched_gt=8, n_gt=12)
    s = bf1_scores(pred, gt)
    assert (s.precision, s.recall) == (8 / 12, 8 / 12)
    assert s.score == pytest.approx(2 / 3, abs=1e-15)


@pytest.mark.parametrize(
    ("shift", "inclusive", "score"),
    [(1, False, 1.0), (2, False, 0.0), (2, True, 1.0), (3, False, 0.0), (3, True, 0.0)],
)
def test_line_shifted_by_one_two_three_pixels(shift, inclusive, score):
    # a 1-px line is all boundary: it matches entirely or not at all
    assert bf1(_line(shift), _line(), tolerance=2.0, inclusive=inclusive) == score


@pytest.mark.parametrize(
    ("shift", "inclusive", "matched"),
    [
        (0, False, 76),
        (1, False, 76),
        # top/bottom rows: 19 of 20; left column: the 2 pixels next to the corners
        (2, False, 19 + 19 + 2),
        (2, True, 76),
        # top/bottom rows: 18 (19 inclusive); left column 2 (4 inclusive); right column never
        (3, False, 18 + 18 + 2),
        (3, True, 19 + 19 + 4),
    ],
)
def test_square_shifted_exact_counts(shift, inclusive, matched):
    c = bf1_counts(_square(shift), _square(), tolerance=2.0, inclusive=inclusive)
    assert c == BF1Counts(matched, 76, matched, 76)
    assert bf1(_square(shift), _square(), inclusive=inclusive) == matched / 76


def test_empty_mask_conventions():
    gt, empty = _square(), np.zeros((40, 44), bool)
    s = bf1_scores(empty, gt)
    assert math.isnan(s.precision) and s.recall == 0.0 and math.isnan(s.score)
    s = bf1_scores(gt, empty)
    assert s.precision == 0.0 and math.isnan(s.recall) and math.isnan(s.score)
    s = bf1_scores(empty, empty)
    assert math.isnan(s.precision) and math.isnan(s.recall) and math.isnan(s.score)


def test_nothing_matched_scores_zero_not_nan():
    gt, pred = np.zeros((20, 20), bool), np.zeros((20, 20), bool)
    gt[2:5, 2:5] = True
    pred[12:16, 12:16] = True
    s = bf1_scores(pred, gt)
    assert (s.precision, s.recall, s.score) == (0.0, 0.0, 0.0)


def test_full_masks_match_perfectly():
    full = np.ones((13, 7), bool)
    assert bf1_counts(full, full) == BF1Counts(36, 36, 36, 36)  # 2 * 13 + 2 * 7 - 4


def test_tolerance_on_a_diagonal_distance():
    gt, pred = np.zeros((9, 9), bool), np.zeros((9, 9), bool)
    gt[4, 4] = True
    pred[5, 5] = True  # at sqrt(2)
    assert bf1(pred, gt, tolerance=math.sqrt(2)) == 0.0
    assert bf1(pred, gt, tolerance=math.sqrt(2), inclusive=True) == 1.0
    assert bf1(pred, gt, tolerance=1.5) == 1.0
    assert bf1(pred, gt, tolerance=0.5, inclusive=True) == 0.0


def test_numeric_masks_equal_bool_masks():
    gt, pred = _square(), _square(2)
    expected = bf1_counts(pred, gt)
    for dtype in (np.uint8, np.int64, np.float64):
        assert bf1_counts(pred.astype(dtype), gt.astype(dtype)) == expected


def test_counts_add_and_sum():
    a, b = BF1Counts(1, 2, 3, 4), BF1Counts(10, 20, 30, 40)
    assert a + b == BF1Counts(11, 22, 33, 44)
    assert sum([a, b]) == a + b
    assert BF1Scores.from_counts(BF1Counts(0, 5, 0, 5)) == BF1Scores(0.0, 0.0, 0.0)


def test_bf1_per_class_scores_each_label_as_a_mask():
    rng = np.random.default_rng(2)
    gt = rng.integers(0, 3, size=(30, 41)).astype(np.uint8)
    pred = np.where(rng.random(gt.shape) < 0.1, (gt + 1) % 3, gt).astype(np.uint8)
    per = bf1_per_class(pred, gt, 4, tolerance=1.5)
    assert per[:3] == [bf1_scores(pred == c, gt == c, tolerance=1.5) for c in range(3)]
    assert all(math.isnan(v) for v in (per[3].precision, per[3].recall, per[3].score))
    with pytest.raises(InputError, match="label 2 but num_classes is 2"):
        bf1_per_class(pred, gt, 2)
    with pytest.raises(InputError, match="float64"):
        bf1_per_class(pred.astype(float), gt, 3)


def test_bf1_table_scores_each_image():
    preds = [_square(1), _square(3), np.zeros((40, 44), bool)]
    gts = [_square(), _square(), _square()]
    table = bf1_table(preds, gts)
    assert [s.score for s in table[:2]] == [1.0, 38 / 76]
    assert math.isnan(table[2].score)
    assert mean_ignoring_nan(s.score for s in table) == (1.0 + 38 / 76) / 2
    with pytest.raises(InputError, match="2 predictions and 3 ground truths"):
        bf1_table(preds[:2], gts)
    with pytest.raises(InputError, match=r"image 1: .*\(40, 44\) vs gt \(3, 3\)"):
        bf1_table(preds[:2], [gts[0], np.zeros((3, 3), bool)])


@pytest.mark.parametrize("tolerance", [0, -1.0, math.nan, math.inf, "two"])
def test_bad_tolerance_is_rejected(tolerance):
    with pytest.raises(InputError, match="tolerance"):
        bf1(_square(), _square(), tolerance=tolerance)


def test_bad_inputs_are_rejected_with_clear_messages():
    with pytest.raises(InputError, match=r"\(40, 44\) vs gt \(44, 40\)"):
        bf1(_square(), _square().T)
    with pytest.raises(InputError, match="got 3D"):
        bf1(np.zeros((2, 4, 4), bool), np.zeros((2, 4, 4), bool))
    with pytest.raises(InputError, match="NaN"):
        bf1(np.full((4, 4), np.nan), np.zeros((4, 4)))
    with pytest.raises(InputError, match="value 3"):
        bf1(np.full((4, 4), 3), np.zeros((4, 4)))


@pytest.mark.parametrize(
    ("pred", "gt"),
    [
        (np.zeros((257, 130), bool), np.ones((257, 130), bool)),
        (np.eye(50, dtype=bool)[:, :33], np.eye(50, dtype=bool)[::-1, :33]),
        (np.ones((1, 50), bool), np.pad(np.ones((1, 20), bool), ((0, 0), (3, 27)))),
        (np.pad(np.ones((3, 3), bool), 2), np.pad(np.ones((1, 1), bool), 3)),
    ],
)
@pytest.mark.parametrize("tolerance", [1.0, 2.0, 2.5, 4.0])
@pytest.mark.parametrize("inclusive", [False, True])
def test_adversarial_cases_match_the_distance_transform(pred, gt, tolerance, inclusive):
    got = bf1_counts(pred, gt, tolerance=tolerance, inclusive=inclusive)
    assert got == bf1_counts_reference(pred, gt, tolerance=tolerance, inclusive=inclusive)
