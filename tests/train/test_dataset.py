"""CropDataset: tensors of the right kind, reproducible per (seed, epoch, item)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from volseg.errors import ConfigError, InputError
from volseg.train import (
    Augmentation,
    CropDataset,
    CropSpec,
    SliceSet,
    extract,
    fit_normalization,
    load_store,
    normalize,
    sample_crops,
)


@pytest.fixture(scope="module")
def slices() -> SliceSet:
    rng = np.random.default_rng(2)
    images = [rng.normal(100, 10, (48, 56)).astype(np.float32) for _ in range(3)]
    labels = [(im > 110).astype(np.uint8) for im in images]
    return SliceSet(images, labels, ["a", "b", "c"], ["bg", "fg"], "synthetic")


def _dataset(s: SliceSet, **kw) -> CropDataset:
    specs = sample_crops(s.shapes, size=32, count=12, seed=0)
    options = {"augmentation": Augmentation(), "normalization": fit_normalization(s), "seed": 7}
    return CropDataset(s, specs, **{**options, **kw})


def _items(ds: CropDataset, order=None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    order = range(len(ds)) if order is None else order
    return [ds[i] for i in order]


def _same(a, b) -> bool:
    return all(torch.equal(x, y) and torch.equal(u, v) for (x, u), (y, v) in zip(a, b, strict=True))


def test_items_are_float_image_and_int64_label(slices):
    ds = _dataset(slices)
    assert len(ds) == 12
    image, label = ds[0]
    assert image.dtype == torch.float32 and image.shape == (1, 32, 32)
    assert label.dtype == torch.int64 and label.shape == (32, 32)
    assert set(label.unique().tolist()) <= {0, 1}
    assert ds[-1][0].shape == (1, 32, 32)
    with pytest.raises(IndexError):
        ds[12]


def test_without_augmentation_an_item_is_the_normalized_crop(slices):
    ds = _dataset(slices, augmentation=None)
    for i in (0, 5, 11):
        image, label = extract(slices, ds.specs[i])
        assert np.array_equal(ds[i][0].numpy()[0], normalize(image, ds.normalization))
        assert np.array_equal(ds[i][1].numpy(), label.astype(np.int64))


def test_two_instances_give_the_same_epoch_in_any_order(slices):
    a, b = _dataset(slices), _dataset(slices)
    first = _items(a)
    assert _same(first, _items(b))
    assert _same(first, _items(b, order=reversed(range(12)))[::-1])


def test_epochs_differ_and_come_back(slices):
    ds = _dataset(slices)
    epoch0 = _items(ds)
    ds.set_epoch(1)
    epoch1 = _items(ds)
    assert not _same(epoch0, epoch1)
    ds.set_epoch(0)
    assert _same(epoch0, _items(ds))
    assert _same(epoch1, _items(_dataset(slices, epoch=1)))


def test_other_seed_other_augmentation(slices):
    assert not _same(_items(_dataset(slices)), _items(_dataset(slices, seed=8)))


def test_worker_count_does_not_change_an_epoch(slices):
    ds = _dataset(slices)
    ds.set_epoch(3)
    batches = [
        torch.cat([x for x, _ in DataLoader(ds, batch_size=4, num_workers=w)]) for w in (0, 2)
    ]
    assert torch.equal(batches[0], batches[1])


def test_25d_items_have_channels_first(tiny_store):
    s = load_store(tiny_store.path, slices=[0, 4], channels=3)
    ds = CropDataset(
        s,
        sample_crops(s.shapes, size=16, count=4, seed=1),
        augmentation=Augmentation(rotation="right"),
        normalization=fit_normalization(s),
        seed=0,
    )
    image, label = ds[0]
    assert image.shape == (3, 16, 16) and label.shape == (16, 16)


@pytest.mark.parametrize("kw", [{"seed": -1}, {"epoch": -2}, {"seed": 1.5}])
def test_bad_seed_or_epoch_is_refused(slices, kw):
    with pytest.raises(ConfigError):
        _dataset(slices, **kw)


def test_crops_that_do_not_fit_are_refused_up_front(slices):
    with pytest.raises(InputError, match="does not fit slice b"):
        CropDataset(
            slices,
            [CropSpec(0, 0, 0, 32), CropSpec(1, 20, 0, 32)],
            augmentation=None,
            normalization=fit_normalization(slices),
            seed=0,
        )
