"""The torch ``Dataset`` of training crops: extract, normalize, augment, to tensors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from volseg.errors import ConfigError
from volseg.train._augment import Augmentation
from volseg.train._crops import CropSpec, check_crop, extract
from volseg.train._data import SliceSet
from volseg.train._normalize import Normalization, normalize


class CropDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Training crops of a :class:`SliceSet` as ``(image, label)`` tensors.

    Item ``i`` is crop ``specs[i]``, normalized, then augmented with a generator seeded by
    ``(seed, epoch, i)``: an epoch is reproducible whatever the number of DataLoader
    workers and the order items are fetched in, and every epoch draws new augmentations.

    Parameters
    ----------
    set
        The annotated slices.
    specs
        The crops (from :func:`~volseg.train.sample_crops`).
    augmentation
        Applied to every item after normalization; ``None`` for none (validation).
    normalization
        Intensity normalization (from :func:`~volseg.train.fit_normalization`).
    seed
        Seed of the augmentation, a non-negative integer.
    epoch
        Current epoch, a non-negative integer; see :meth:`set_epoch`.

    Raises
    ------
    InputError
        A crop that does not fit its slice of ``set``.
    ConfigError
        A negative or non-integer ``seed`` or ``epoch``.

    Notes
    -----
    Items are ``(image float32 (C, H, W), label int64 (H, W))``; C = 1 for 2D slices.
    :meth:`set_epoch` changes this object only: DataLoader workers started with
    ``persistent_workers=True`` keep the epoch they started with, so use non-persistent
    workers (the default) or a new DataLoader per epoch.
    """

    def __init__(
        self,
        set: SliceSet,
        specs: Sequence[CropSpec],
        *,
        augmentation: Augmentation | None,
        normalization: Normalization,
        seed: int,
        epoch: int = 0,
    ) -> None:
        if int(seed) != seed or seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed}")
        self.set = set
        self.specs = list(specs)
        for spec in self.specs:  # fail now, not in a DataLoader worker mid-epoch
            check_crop(set, spec)
        self.augmentation = augmentation
        self.normalization = normalization
        self.seed = int(seed)
        self.epoch = 0
        self.set_epoch(epoch)

    def set_epoch(self, epoch: int) -> None:
        """Use the augmentations of ``epoch`` from now on."""
        if int(epoch) != epoch or epoch < 0:
            raise ConfigError(f"epoch must be a non-negative integer, got {epoch}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.specs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"crop {index} out of range for {len(self)} crops")
        index = index % len(self)
        image, label = extract(self.set, self.specs[index])
        image = normalize(image, self.normalization)
        if self.augmentation is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            image, label = self.augmentation(image, label, rng)
        if image.ndim == 2:
            image = image[np.newaxis]
        return torch.from_numpy(image), torch.from_numpy(label.astype(np.int64))
