"""Bit-identical output whatever the box decomposition, and seed determinism."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from volseg.errors import GeometryError
from volseg.geometry import BlockGrid, Box
from volseg.phantom import PhantomConfig, draw_scene, render


def render_tiled(scene, block_shape):
    cfg = scene.config
    image = np.zeros(cfg.shape, np.dtype(cfg.dtype))
    labels = np.full(cfg.shape, 255, np.uint8)
    for block in BlockGrid(cfg.shape, block_shape):
        image[block.box.slices], labels[block.box.slices] = render(scene, block.box)
    return image, labels


@pytest.fixture(scope="module")
def whole(small_scene):
    return render(small_scene, Box.from_shape(small_scene.config.shape))


@pytest.mark.parametrize("block_shape", [(5, 37, 61), (1, 96, 7), (8, 13, 128), (3, 50, 50)])
def test_fast_tiles_equal_the_whole_volume(small_scene, whole, block_shape):
    image, labels = render_tiled(small_scene, block_shape)
    np.testing.assert_array_equal(image, whole[0])
    np.testing.assert_array_equal(labels, whole[1])


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.tuples(st.integers(0, 7), st.integers(0, 95), st.integers(0, 127)),
    size=st.tuples(st.integers(1, 8), st.integers(1, 96), st.integers(1, 128)),
)
def test_fast_any_box_equals_the_same_region_of_the_whole(small_scene, whole, start, size):
    stop = tuple(
        min(a + s, n) for a, s, n in zip(start, size, small_scene.config.shape, strict=True)
    )
    box = Box(start, stop)
    image, labels = render(small_scene, box)
    np.testing.assert_array_equal(image, whole[0][box.slices])
    np.testing.assert_array_equal(labels, whole[1][box.slices])


@pytest.mark.parametrize("dtype", ["float32", "uint16"])
def test_ct_full_slice_boxes_of_any_z_split_agree(dtype):
    cfg = PhantomConfig(shape=(5, 64, 80), seed=2, mode="ct", dtype=dtype)
    scene = draw_scene(cfg)
    image, labels = render(scene, Box.from_shape(cfg.shape))
    for split in ([2, 3], [1, 1, 1, 1, 1]):
        bounds = [0, *itertools.accumulate(split)]
        for z0, z1 in itertools.pairwise(bounds):
            part, part_labels = render(scene, Box((z0, 0, 0), (z1, 64, 80)))
            np.testing.assert_array_equal(part, image[z0:z1])
            np.testing.assert_array_equal(part_labels, labels[z0:z1])
    # a partial-slice box in ct mode is the crop of the full slices
    part, _ = render(scene, Box((1, 10, 20), (3, 50, 33)))
    np.testing.assert_array_equal(part, image[1:3, 10:50, 20:33])
    assert np.isfinite(image.astype(np.float64)).all()


def _scene_arrays(scene):
    for part in (scene.cord, scene.somas, scene.vessels, scene.detector):
        for field in dataclasses.fields(part):
            yield getattr(part, field.name)


def test_same_seed_same_scene_and_bytes(small_config, small_scene):
    again = draw_scene(small_config)
    for a, b in zip(_scene_arrays(small_scene), _scene_arrays(again), strict=True):
        np.testing.assert_array_equal(a, b)
    box = Box((2, 20, 30), (5, 70, 90))
    for a, b in zip(render(small_scene, box), render(again, box), strict=True):
        assert a.tobytes() == b.tobytes()


def test_different_seed_different_scene_and_image(small_config, small_scene):
    other = draw_scene(small_config.model_copy(update={"seed": 8}))
    assert not np.array_equal(other.vessels.p0[:5], small_scene.vessels.p0[:5])
    box = Box.from_shape(small_config.shape)
    assert not np.array_equal(render(other, box)[0], render(small_scene, box)[0])


def test_scene_survives_pickling(small_scene):
    import pickle

    clone = pickle.loads(pickle.dumps(small_scene))
    box = Box((0, 0, 0), (2, 40, 40))
    np.testing.assert_array_equal(render(clone, box)[0], render(small_scene, box)[0])


def test_boxes_outside_the_volume_are_rejected(small_scene):
    with pytest.raises(GeometryError, match="not inside the phantom volume"):
        render(small_scene, Box((0, 0, 0), (9, 10, 10)))
    with pytest.raises(GeometryError, match="3D"):
        render(small_scene, Box((0, 0), (2, 2)))
    image, labels = render(small_scene, Box((3, 3, 3), (3, 10, 10)))
    assert image.shape == labels.shape == (0, 7, 7)


def test_threads_render_the_same_bytes(small_scene, whole):
    from concurrent.futures import ThreadPoolExecutor

    boxes = [b.box for b in BlockGrid(small_scene.config.shape, (4, 48, 64))]
    with ThreadPoolExecutor(4) as pool:
        parts = list(pool.map(lambda b: render(small_scene, b), boxes))
    for box, (image, labels) in zip(boxes, parts, strict=True):
        np.testing.assert_array_equal(image, whole[0][box.slices])
        np.testing.assert_array_equal(labels, whole[1][box.slices])


def test_summary_counts_the_objects(small_scene):
    summary = small_scene.summary()
    assert summary["somas"] == len(small_scene.somas)
    assert summary["vessel_segments"] == len(small_scene.vessels) > 0
    assert 0 < summary["soma_fraction"] < 0.1
