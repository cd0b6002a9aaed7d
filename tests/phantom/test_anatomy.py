"""The anatomy: classes, sizes, shapes, densities and the field of view."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from volseg.geometry import Box
from volseg.phantom import (
    OUTSIDE_VALUE,
    TISSUE_NAMES,
    PhantomConfig,
    draw_scene,
    render,
    render_tissue,
)
from volseg.phantom._somas import soma_diameters

T = {name: code for code, name in enumerate(TISSUE_NAMES)}


@pytest.fixture(scope="module")
def tall():
    """A volume tall enough to tell tubes from ellipsoids, as tissue codes."""
    scene = draw_scene(PhantomConfig(shape=(128, 256, 256), seed=4))
    return scene, render_tissue(scene, Box.from_shape(scene.config.shape))


def test_default_volume_has_all_three_classes(default_scene):
    nz = default_scene.config.shape[0]
    counts = np.zeros(3, np.int64)
    for z in (0, nz // 3, 2 * nz // 3, nz - 1):
        _, labels = render(default_scene, Box((z, 0, 0), (z + 1, 512, 512)))
        counts += np.bincount(labels.ravel(), minlength=3)
    assert counts.shape == (3,)
    assert (counts > 0).all(), counts


def test_soma_sizes_span_15_to_100_with_many_more_small_than_large():
    d = soma_diameters(np.random.default_rng(0), 20000, median=22.0, bounds=(15.0, 100.0))
    assert d.min() >= 15.0
    assert d.max() <= 100.0
    assert np.mean(d < 30) > 0.6
    assert 0.001 < np.mean(d > 60) < 0.1


def test_scene_somas_sizes_and_aspect(default_scene):
    s = default_scene.somas
    assert len(s) > 20
    assert s.diameter.min() >= 15.0 - 1e-9
    assert s.diameter.max() <= 100.0 + 1e-9
    aspect = s.semi.min(axis=1) / s.semi.max(axis=1)
    assert aspect.min() >= 0.7


def test_rendered_somas_have_the_drawn_sizes(tall):
    _, tissue = tall
    comps, _ = ndimage.label(np.isin(tissue, [T["soma"], T["nucleus"]]))
    sizes = np.bincount(comps.ravel())[1:]
    boxes = ndimage.find_objects(comps)
    whole = [i for i, b in enumerate(boxes) if b[0].start > 0 and b[0].stop < tissue.shape[0]]
    assert len(whole) >= 5
    diam = np.cbrt(6 * sizes[whole] / np.pi)
    assert diam.min() >= 13.0
    assert diam.max() <= 100.0
    assert diam.max() / diam.min() > 1.8


def _elongation(mask):
    """z extent over the mean in-plane equivalent diameter, per connected component."""
    comps, _ = ndimage.label(mask)
    out = []
    for i, sl in enumerate(ndimage.find_objects(comps), start=1):
        comp = comps[sl] == i
        if comp.sum() < 300:
            continue
        areas = comp.sum(axis=(1, 2))
        areas = areas[areas > 0]
        out.append(len(areas) / np.mean(np.sqrt(4 * areas / np.pi)))
    return np.array(out)


def test_vessels_are_elongated_along_z_and_somas_are_not(tall):
    _, tissue = tall
    vessels = _elongation(tissue == T["vessel"])
    somas = _elongation(np.isin(tissue, [T["soma"], T["nucleus"]]))
    assert len(vessels) >= 2
    assert np.median(vessels) > 2.5
    assert np.median(somas) < 1.6


def test_somas_are_denser_in_grey_than_in_white_matter():
    scene = draw_scene(PhantomConfig(shape=(128, 512, 512), seed=5))
    tissue = render_tissue(scene, Box((64, 0, 0), (65, 512, 512)))
    grey = np.sum(tissue == T["grey"])
    white = np.sum(tissue == T["white"])
    n_grey = scene.somas.grey.sum()
    n_white = len(scene.somas) - n_grey
    ratio = (n_grey / grey) / (n_white / white)
    assert 2.0 < ratio < 8.0, ratio


def test_soma_fraction_is_near_the_target(tall):
    scene, tissue = tall
    cord = ~np.isin(tissue, [T["air"], T["medium"]])
    fraction = np.isin(tissue, [T["soma"], T["nucleus"]]).sum() / cord.sum()
    assert fraction == pytest.approx(scene.config.soma_fraction, rel=0.2)
    assert cord.sum() == pytest.approx(scene.cord_volume, rel=0.02)


def test_grey_matter_sits_inside_white_matter_with_a_central_canal(default_scene):
    tissue = render_tissue(default_scene, Box((10, 0, 0), (11, 512, 512)))[0]
    cy, cx = default_scene.cord.params(10, 11)[0, :2]
    assert tissue[round(cy), round(cx)] == T["canal"]
    grey = tissue == T["grey"]
    cord = ~np.isin(tissue, [T["air"], T["medium"]])
    assert 0.1 < grey.sum() / cord.sum() < 0.4
    ys, xs = np.nonzero(grey)
    # the butterfly is centred and spans both sides of the midline
    assert abs(ys.mean() - cy) < 40
    assert xs.min() < cx - 50 < cx + 50 < xs.max()
    # the cord fills ≈ 0.8 of the field of view's diameter
    radius = np.sqrt(cord.sum() / np.pi)
    assert 0.38 * 512 < radius < 0.46 * 512


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_outside_the_field_of_view_is_constant(dtype):
    cfg = PhantomConfig(shape=(2, 64, 96), seed=3, dtype=dtype)
    image, labels = render(draw_scene(cfg), Box.from_shape(cfg.shape))
    yy, xx = np.mgrid[:64, :96]
    outside = (yy - 31.5) ** 2 + (xx - 47.5) ** 2 > 32**2
    values = np.unique(image[:, outside])
    assert len(values) == 1
    if dtype == "float32":
        assert values[0] == OUTSIDE_VALUE
    assert len(np.unique(image[:, ~outside])) > 20
    assert not labels[:, outside].any()
