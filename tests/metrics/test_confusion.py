"""Confusion matrix, pixel accuracy, IoU and their input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from volseg.errors import InputError
from volseg.metrics import (
    confusion_matrix,
    iou,
    iou_per_class,
    mean_ignoring_nan,
    metrics_from_confusion,
    pixel_accuracy,
)
from volseg.metrics._reference import confusion_matrix_reference

PRED = np.array([[0, 1, 1], [2, 2, 0]])
GT = np.array([[0, 1, 2], [2, 0, 0]])


def test_confusion_matrix_rows_are_ground_truth_by_hand():
    cm = confusion_matrix(PRED, GT, 3)
    # gt 0 at 3 voxels: predicted 0, 2, 0; gt 1: predicted 1; gt 2: predicted 1, 2
    assert cm.tolist() == [[2, 0, 1], [0, 1, 0], [0, 1, 1]]
    assert cm.dtype == np.int64


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int16, np.uint32, np.int64])
def test_confusion_matrix_matches_bincount_for_dtypes(dtype):
    rng = np.random.default_rng(4)
    n = 2 if dtype is np.bool_ else 5
    pred = rng.integers(0, n, size=(257, 130)).astype(dtype)
    gt = rng.integers(0, n, size=(257, 130)).astype(dtype)
    assert np.array_equal(confusion_matrix(pred, gt, n), confusion_matrix_reference(pred, gt, n))


def test_confusion_matrix_of_blocks_sums_to_whole():
    rng = np.random.default_rng(5)
    pred = rng.integers(0, 4, size=(7, 33, 29))
    gt = rng.integers(0, 4, size=(7, 33, 29))
    whole = confusion_matrix(pred, gt, 4)
    parts = sum(confusion_matrix(pred[z : z + 3], gt[z : z + 3], 4) for z in range(0, 7, 3))
    assert np.array_equal(parts, whole)
    assert whole.sum() == pred.size
    m = metrics_from_confusion(parts)
    assert m["accuracy"] == pytest.approx(pixel_accuracy(pred, gt), abs=0)
    assert np.allclose(m["iou"], [iou(pred, gt, c) for c in range(4)], rtol=0, atol=0)


def test_confusion_matrix_of_empty_arrays_is_zero():
    empty = np.zeros((0, 5), np.uint8)
    assert confusion_matrix(empty, empty, 2).tolist() == [[0, 0], [0, 0]]


def test_pixel_accuracy_values():
    assert pixel_accuracy(PRED, GT) == 4 / 6
    assert pixel_accuracy(GT, GT) == 1.0
    assert math.isnan(pixel_accuracy(np.zeros(0, int), np.zeros(0, int)))


def test_iou_by_hand_and_nan_for_absent_class():
    assert iou(PRED, GT, 0) == 2 / 3  # P = {(0,0),(1,2)}, G = {(0,0),(1,1),(1,2)}
    assert iou(PRED, GT, 1) == 1 / 2
    assert iou(PRED, GT, 2) == 1 / 3
    assert math.isnan(iou(PRED, GT, 7))


def test_iou_per_class_equals_iou_and_nan_where_union_empty():
    per = iou_per_class(PRED, GT, 4)
    assert per.dtype == np.float64
    assert per[:3].tolist() == [iou(PRED, GT, c) for c in range(3)]
    assert math.isnan(per[3])


def test_metrics_from_confusion_keys_and_values():
    m = metrics_from_confusion(np.array([[3, 1, 0], [0, 4, 0], [0, 0, 0]]))
    assert m["accuracy"] == 7 / 8
    assert m["iou"][:2].tolist() == [3 / 4, 4 / 5]
    assert math.isnan(m["iou"][2])
    assert m["mean_iou"] == pytest.approx((3 / 4 + 4 / 5) / 2)
    assert m["total"] == 8
    zero = metrics_from_confusion(np.zeros((2, 2), np.int64))
    assert math.isnan(zero["accuracy"]) and math.isnan(zero["mean_iou"])


@pytest.mark.parametrize(
    ("cm", "match"),
    [
        (np.zeros((2, 3), int), "square"),
        (np.zeros((2, 2), float), "integer"),
        (np.array([[1, -1], [0, 0]]), "negative"),
    ],
)
def test_metrics_from_confusion_rejects_bad_matrices(cm, match):
    with pytest.raises(InputError, match=match):
        metrics_from_confusion(cm)


def test_mean_ignoring_nan():
    assert mean_ignoring_nan([0.5, math.nan, 1.0]) == 0.75
    assert math.isnan(mean_ignoring_nan([math.nan, math.nan]))
    assert math.isnan(mean_ignoring_nan([]))
    assert mean_ignoring_nan(np.array([1.0, 2.0])) == 1.5


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(InputError, match=r"\(2, 3\).*\(3, 2\)"):
        confusion_matrix(PRED, GT.T, 3)
    with pytest.raises(InputError, match=r"\(2, 3\).*\(6,\)"):
        pixel_accuracy(PRED, GT.ravel())


def test_float_labels_are_rejected_naming_the_dtype():
    with pytest.raises(InputError, match="float32"):
        confusion_matrix(PRED.astype(np.float32), GT, 3)
    with pytest.raises(InputError, match="float64 and contains NaN"):
        iou(PRED, np.array([[0, 1, np.nan], [2, 0, 0]]), 1)


def test_label_out_of_range_names_the_value():
    with pytest.raises(InputError, match="label 5 but num_classes is 3"):
        confusion_matrix(np.where(PRED == 2, 5, PRED), GT, 3)
    with pytest.raises(InputError, match="label -1 < 0"):
        confusion_matrix(PRED, GT - 1, 3)
    with pytest.raises(InputError, match="num_classes"):
        confusion_matrix(PRED, GT, 0)
