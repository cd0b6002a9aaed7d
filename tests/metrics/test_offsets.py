"""The tolerance-ball stencil: offsets within the tolerance, and their x-runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from volseg.errors import InputError
from volseg.metrics._offsets import axis_steps, ball_offsets, planar_offsets, row_stencil


@pytest.mark.parametrize(
    ("tolerance", "inclusive", "count"),
    [
        (1.0, False, 1),  # only the pixel itself
        (1.0, True, 5),
        (math.sqrt(2), False, 5),
        (math.sqrt(2), True, 9),
        (2.0, False, 9),
        (2.0, True, 13),
        (3.0, False, 25),  # the 5 x 5 block: its corner (2, 2) is 2.83 px away
    ],
)
def test_planar_offset_counts(tolerance, inclusive, count):
    off = planar_offsets(tolerance, inclusive=inclusive)
    assert off.shape == (count, 3)
    assert off[0].tolist() == [0, 0, 0] and not off[:, 0].any()
    d = np.hypot(off[:, 1], off[:, 2])
    assert (np.diff(d) >= 0).all()  # nearest first


def test_anisotropic_offsets_and_row_runs():
    off = ball_offsets(1.0, (1.0, 0.5, 0.5), inclusive=False)
    assert set(off[:, 0].tolist()) == {0}  # a z step is 1 µm: not < 1
    rows = row_stencil(off)
    # in-plane |(dy, dx)| * 0.5 < 1: dy = 0 -> |dx| <= 1; dy = ±1 -> |dx| <= 1
    assert sorted(map(tuple, rows.tolist())) == [(0, -1, 1), (0, 0, 1), (0, 1, 1)]
    assert rows[0].tolist() == [0, 0, 1]


def test_axis_steps():
    assert axis_steps(1.0, 2.0) == 2
    assert axis_steps(1.0, 2.0, inclusive=False) == 1
    assert axis_steps(3.0, 2.0) == 0
    with pytest.raises(InputError, match="too many"):
        axis_steps(1e-9, 100.0)
