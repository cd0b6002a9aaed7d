"""bf1 never allocates full-size float distance maps (a float64 map of these masks is
128 MiB; the kernels need the two bool boundary maps and a few bool/uint8 temporaries)."""

from __future__ import annotations

from volseg.testing import peak_rss_mib_of

SETUP = """
import numpy as np
from volseg.metrics import bf1
gt = np.zeros((4096, 4096), bool)
yy, xx = np.mgrid[:4096, :4096]
for cy, cx, r in [(500, 700, 60), (2000, 2100, 300), (3500, 900, 40), (1200, 3300, 150)]:
    gt |= (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
pred = np.roll(gt, 1, axis=1)
del yy, xx
bf1(pred[:64, :64], gt[:64, :64])   # load the compiled kernels
"""


def test_bf1_of_large_masks_stays_far_below_a_float_distance_map():
    use = peak_rss_mib_of("score = bf1(pred, gt, tolerance=2.0)\nassert score > 0.99", setup=SETUP)
    float_map_mib = 4096 * 4096 * 8 / 2**20
    assert use.growth_mib < float_map_mib / 2, use
