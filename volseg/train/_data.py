"""Annotated training slices held in memory.

Training uses tens of annotated 2D slices, so they are read once into a :class:`SliceSet`
(raw intensities as float32, class ids as uint8). Normalization is a separate, explicit
step: :func:`fit_normalization` on the training set, stored in the checkpoint, and
:func:`normalize` applied to every input, at training and at inference alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from volseg.errors import ConfigError, InputError, InputNotFoundError
from volseg.io import GROUND_TRUTH, VolumeStore, open_source, strict_image, strict_labels

#: Most classes a uint8 label map can hold.
MAX_CLASSES = 256


@dataclass(frozen=True)
class SliceSet:
    """Annotated 2D slices: raw images with their class-id labels.

    Attributes
    ----------
    images
        One float32 array per slice: ``(H, W)``, or ``(C, H, W)`` for 2.5D input (all
        slices the same number of channels). Raw intensities; see :func:`normalize`.
    labels
        One uint8 ``(H, W)`` class-id map per slice, values ``< len(classes)``.
    names
        One name per slice for messages and reports (file stem, ``"vol.zarr z=12"``).
    classes
        Class names; ``classes[i]`` names label value ``i``.
    source
        Where the slices came from (folder or store labels path).
    voxel_size
        Voxel size (µm, z y x) of the store the slices came from; ``None`` for a folder.

    Raises
    ------
    InputError
        Lists of different lengths, wrong dtypes or dimensions, image and label shapes that
        differ, or a label value without a class name.
    """

    images: list[np.ndarray]
    labels: list[np.ndarray]
    names: list[str]
    classes: list[str]
    source: str
    voxel_size: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        _check_classes(self.classes)
        if not len(self.images) == len(self.labels) == len(self.names):
            raise InputError(
                f"{self.source}: {len(self.images)} images, {len(self.labels)} labels and "
                f"{len(self.names)} names; give one label map and one name per image"
            )
        channels = {im.shape[0] if im.ndim == 3 else 0 for im in self.images}
        if len(channels) > 1:
            raise InputError(f"{self.source}: slices have different channel counts {channels}")
        for image, label, name in zip(self.images, self.labels, self.names, strict=True):
            where = f"{self.source}: slice {name}"
            if image.dtype != np.float32 or image.ndim not in (2, 3):
                raise InputError(
                    f"{where} is {image.dtype} of shape {image.shape}; images must be float32 "
                    "(H, W) or (C, H, W)"
                )
            if label.dtype != np.uint8 or label.ndim != 2:
                raise InputError(
                    f"{where} has labels {label.dtype} of shape {label.shape}; labels must be "
                    "uint8 (H, W) class ids"
                )
            if image.shape[-2:] != label.shape:
                raise InputError(
                    f"{where}: image is {image.shape[-2:]} (H, W) but its labels are "
                    f"{label.shape}; an image and its labels must have the same size"
                )
            _check_label_range(label, len(self.classes), where)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        """Number of classes (label values ``0 .. num_classes - 1``)."""
        return len(self.classes)

    @property
    def channels(self) -> int:
        """Input channels of the network: 1 for 2D slices, C for ``(C, H, W)`` images."""
        return int(self.images[0].shape[0]) if self.images and self.images[0].ndim == 3 else 1

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """The ``(H, W)`` of every slice, as :func:`~volseg.train.sample_crops` takes them."""
        return [(int(lab.shape[0]), int(lab.shape[1])) for lab in self.labels]


def _check_classes(classes: Sequence[str]) -> None:
    if not 2 <= len(classes) <= MAX_CLASSES or len(set(classes)) != len(classes):
        raise ConfigError(
            f"classes must be 2 to {MAX_CLASSES} distinct names (index = label value), "
            f"got {list(classes)}"
        )


def _check_label_range(label: np.ndarray, num_classes: int, where: str) -> None:
    top = int(label.max()) if label.size else 0
    if top >= num_classes:
        raise InputError(
            f"{where} has label value {top} but only {num_classes} classes are named "
            f"(values 0..{num_classes - 1}); pass classes=[...] naming every label value"
        )


def _default_classes(top: int, where: str) -> list[str]:
    if top == 255:
        raise InputError(
            f"{where} has label value 255; binary masks saved as 0/255 images must be "
            "converted to class ids 0/1 (divide by 255), or pass classes=[...] naming 256 classes"
        )
    if top <= 1:
        return ["background", "foreground"]
    return ["background", *(f"class {v}" for v in range(1, top + 1))]


def load_folder(path: str | Path, *, classes: Sequence[str] | None = None) -> SliceSet:
    """Read annotated slices from ``path/images`` and ``path/labels``.

    Image and label files (PNG or TIFF, one 2D slice each) pair up by file name without
    suffix; slices come in natural order of the names (``s2`` before ``s10``). Images keep
    their raw intensities as float32; labels must be integer class ids.

    Parameters
    ----------
    path
        Folder holding ``images/`` and ``labels/``.
    classes
        Class names, index = label value. By default ``["background", "foreground"]`` when
        the largest label value is at most 1, else ``["background", "class 1", ...]`` up to
        the largest value found.

    Returns
    -------
    SliceSet
        Names are the file stems; ``source`` is ``path``.

    Raises
    ------
    InputNotFoundError
        ``path/images`` or ``path/labels`` is missing or holds no slices.
    InputError
        Names without a partner, an image and label of different sizes, colour images, label
        values beyond ``classes`` (0/255 masks are refused with a hint).
    CorruptInputError
        An unreadable file.

    Notes
    -----
    Slices are read with :func:`volseg.io.open_source`, so all images of a folder must
    share one size (and so must all labels).
    """
    root = Path(path)
    image_dir, label_dir = root / "images", root / "labels"
    for sub in (image_dir, label_dir):
        if not sub.is_dir():
            raise InputNotFoundError(
                f"{sub} does not exist; a training folder holds images/ and labels/ with "
                "label files named like the image files"
            )
    images = open_source(image_dir, role="image")
    labels = open_source(label_dir, role="labels")
    image_stems = _stems(images.names, image_dir)
    label_stems = _stems(labels.names, label_dir)
    _match(image_stems, label_stems, image_dir, label_dir)

    label_index = {stem: z for z, stem in enumerate(label_stems)}
    image_list, label_list = [], []
    for z, stem in enumerate(image_stems):
        image = images.read(z)
        label = labels.read(label_index[stem])
        if image.shape != label.shape:
            raise InputError(
                f"{images.names[z]} is {image.shape} (H, W) but its labels "
                f"{labels.names[label_index[stem]]} are {label.shape}; they must match"
            )
        image_list.append(image.astype(np.float32))
        label_list.append(label)

    top = max(int(lab.max()) for lab in label_list)
    if classes is None:
        classes = _default_classes(top, str(label_dir))
    _check_classes(classes)
    for stem, label in zip(image_stems, label_list, strict=True):
        _check_label_range(label, len(classes), f"{label_dir}/{stem}")
    return SliceSet(
        images=image_list,
        labels=[lab.astype(np.uint8) for lab in label_list],
        names=image_stems,
        classes=list(classes),
        source=str(root),
    )


def _stems(names: Sequence[str], folder: Path) -> list[str]:
    stems = [Path(n).stem for n in names]
    seen: dict[str, str] = {}
    for name, stem in zip(names, stems, strict=True):
        if stem in seen:
            raise InputError(
                f"{folder} holds {Path(seen[stem]).name} and {Path(name).name}: two files for "
                f"slice {stem!r}; keep one"
            )
        seen[stem] = name
    return stems


def _match(images: list[str], labels: list[str], image_dir: Path, label_dir: Path) -> None:
    unlabelled = [s for s in images if s not in set(labels)]
    orphans = [s for s in labels if s not in set(images)]
    if unlabelled or orphans:
        parts = []
        if unlabelled:
            parts.append(f"images without labels in {label_dir}: {_few(unlabelled)}")
        if orphans:
            parts.append(f"labels without images in {image_dir}: {_few(orphans)}")
        raise InputError(
            "; ".join(parts) + ". Label files must have the same names as the image files"
        )


def _few(names: list[str], n: int = 5) -> str:
    more = f" and {len(names) - n} more" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def check_slices(slices: Sequence[int] | None, depth: int, where: str) -> list[int]:
    """Validate slice indices against a volume of ``depth`` slices (``None`` = all)."""
    if slices is None:
        return list(range(depth))
    out = [int(z) for z in slices]
    bad = [z for z in out if not 0 <= z < depth]
    if bad:
        raise InputError(
            f"{where}: slice {bad[0]} is outside the volume's slices 0..{depth - 1}; "
            "choose annotated slices inside the volume"
        )
    if not out:
        raise InputError(f"{where}: no slices selected; give at least one slice index")
    return out


def load_store(
    path: str | Path,
    *,
    labels: str = GROUND_TRUTH,
    slices: Sequence[int] | None = None,
    channels: int = 1,
) -> SliceSet:
    """Read annotated slices (image and labels) of a volseg store.

    Parameters
    ----------
    path
        A complete volseg store with a labels image ``labels/<labels>``.
    labels
        Name of the labels image holding the annotation.
    slices
        z indices of the annotated slices, in the order wanted; ``None`` reads every slice
        (all of them go into memory: name the annotated ones for a large volume).
    channels
        Odd number of input channels. 1 gives ``(H, W)`` images; C > 1 ("2.5D") gives
        ``(C, H, W)`` images stacking slices ``z - C//2 .. z + C//2`` around each annotated
        slice ``z`` (centre channel = ``z``); beyond the volume the edge slice is repeated.
        Labels stay those of slice ``z``.

    Returns
    -------
    SliceSet
        Names ``"<store name> z=<z>"``, classes from the labels image, source
        ``"<path>/labels/<labels>"``.

    Raises
    ------
    StoreNotFoundError, IncompleteStoreError
        No such store or labels image; a store whose writing never finished.
    InputError
        A slice index outside the volume, non-finite image values, label values beyond the
        named classes.
    ConfigError
        ``channels`` not a positive odd number.
    """
    if channels < 1 or channels % 2 == 0:
        raise ConfigError(
            f"channels must be a positive odd number (slice z and its neighbours on both "
            f"sides), got {channels}"
        )
    store = VolumeStore.open(path)
    store.require_complete()
    # strict reads: a damaged chunk (or a missing image chunk) is an error naming its key
    image_arr = strict_image(store.image(0))
    label_arr = strict_labels(store.labels(labels))
    classes = store.classes(labels)
    source = f"{store.path}/labels/{labels}"
    depth = int(image_arr.shape[0])
    zs = check_slices(slices, depth, source)
    half = channels // 2
    stacks = {z: [min(max(z + d, 0), depth - 1) for d in range(-half, half + 1)] for z in zs}
    planes = _read_planes(image_arr, sorted({n for s in stacks.values() for n in s}), np.float32)
    label_planes = _read_planes(label_arr, sorted(set(zs)), label_arr.dtype)

    images, label_list, names = [], [], []
    for z in zs:
        stack = [planes[n] for n in stacks[z]]
        image = stack[0] if channels == 1 else np.stack(stack)
        if not np.isfinite(image).all():
            raise InputError(
                f"{store.path} slice z={z} (or a neighbour) has non-finite values; "
                "replace them in the store before training"
            )
        lab = label_planes[z]
        _check_label_range(lab, len(classes), f"{source} z={z}")
        images.append(image)
        label_list.append(lab.astype(np.uint8))
        names.append(f"{store.path.name} z={z}")
    return SliceSet(
        images=images,
        labels=label_list,
        names=names,
        classes=classes,
        source=source,
        voxel_size=store.voxel_size,
    )


def _read_planes(array: Any, zs: list[int], dtype: Any) -> dict[int, np.ndarray]:
    """Read slices ``zs`` (sorted, unique) as ``dtype``, one zarr read per contiguous run."""
    out: dict[int, np.ndarray] = {}
    start = 0
    for i in range(1, len(zs) + 1):
        if i == len(zs) or zs[i] != zs[i - 1] + 1:
            block = np.asarray(array[zs[start] : zs[i - 1] + 1]).astype(dtype, copy=False)
            out.update({z: block[j] for j, z in enumerate(zs[start:i])})
            start = i
    return out


# --------------------------------------------------------------------- normalization
