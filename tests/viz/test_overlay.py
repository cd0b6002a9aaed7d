from __future__ import annotations

import numpy as np
import pytest

from volseg.errors import InputError
from volseg.viz import (
    OVERLAY_COLOURS,
    comparison_figure,
    display_factor,
    overlay,
    reduce_image,
    reduce_labels,
    save_figure,
)


def test_overlay_uses_the_study_colour_code():
    gt = np.array([[1, 1, 0, 0]], np.uint8)
    pred = np.array([[1, 0, 1, 0]], np.uint8)
    rgb = overlay(pred, gt)
    assert rgb.shape == (1, 4, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == OVERLAY_COLOURS["true positive"] == (255, 255, 255)
    assert tuple(rgb[0, 1]) == OVERLAY_COLOURS["false negative"]  # pink
    assert tuple(rgb[0, 2]) == OVERLAY_COLOURS["false positive"]  # green
    assert tuple(rgb[0, 3]) == OVERLAY_COLOURS["true negative"] == (0, 0, 0)


def test_overlay_of_one_class_in_a_label_image():
    gt = np.array([[1, 2, 2, 0]], np.uint8)
    pred = np.array([[2, 2, 1, 0]], np.uint8)
    rgb = overlay(pred, gt, cls=2)
    assert [tuple(c) for c in rgb[0]] == [
        OVERLAY_COLOURS["false positive"],
        OVERLAY_COLOURS["true positive"],
        OVERLAY_COLOURS["false negative"],
        OVERLAY_COLOURS["true negative"],
    ]


def test_large_slices_are_reduced_by_block_majority():
    assert display_factor((2300, 1920)) == 2
    assert display_factor((852, 852)) == 1
    gt = np.zeros((2300, 1920), np.uint8)
    gt[:1000, :1000] = 1
    rgb = overlay(gt, gt, max_side=1200)
    assert rgb.shape == (1150, 960, 3)
    assert (rgb[:500, :500] == 255).all() and (rgb[600:, 600:] == 0).all()
    labels = np.array([[0, 1, 1, 1], [0, 0, 2, 1]], np.uint8)
    assert reduce_labels(labels, 2).tolist() == [[0, 1]]
    np.testing.assert_allclose(reduce_image(np.arange(8).reshape(2, 4), 2), [[2.5, 4.5]])


def test_bad_overlay_input_is_named():
    with pytest.raises(InputError, match=r"shape \(2, 2\) but gt has \(2, 3\)"):
        overlay(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8))
    with pytest.raises(InputError, match="dtype float32"):
        overlay(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.uint8))


def test_comparison_figure_has_four_panels_and_saves(tmp_path):
    rng = np.random.default_rng(0)
    raw = rng.random((300, 200))
    gt = (raw > 0.7).astype(np.uint8)
    fig = comparison_figure(raw, gt, gt, cls=1, classes=["background", "soma"], title="t")
    assert [a.get_title() for a in fig.axes] == [
        "raw",
        "ground truth",
        "prediction",
        "overlay (soma)",
    ]
    path = save_figure(fig, tmp_path / "a" / "fig.png")
    assert path.stat().st_size > 5000
    assert len(comparison_figure(None, gt, gt).axes) == 3
