"""The inputs of a segmentation run, checked before the model loads or the output exists."""

from __future__ import annotations

from volseg.errors import ConfigError, InputError
from volseg.io import VolumeStore
from volseg.io._layout import AXES
from volseg.io._store import IMAGE_DTYPES
from volseg.models import CheckpointHeader
from volseg.segment._config import SegmentConfig

__all__ = ["VOXEL_SIZE_RATIO", "check_inputs"]

#: Largest ratio between the volume's and the checkpoint's voxel size, on any axis that the
#: model sees, that runs without ``ignore_voxel_size``.
VOXEL_SIZE_RATIO = 1.5


def _convert_hint() -> str:
    return (
        "convert the image to float32 (same values) or rescale it to uint8/uint16 and "
        "store it again, e.g. numpy.save('v.npy', image.astype('float32')) then "
        "`volseg ingest v.npy OUT`"
    )


def _check_image(volume: VolumeStore) -> None:
    image = volume.image(0)
    where = f"{volume.path} (array {image.path or '0'})"
    if image.ndim != 3:
        raise InputError(
            f"{where} has {image.ndim} dimensions {tuple(image.shape)}; volseg segments 3D "
            "(z, y, x) volumes: store a 2D image as one slice of shape (1, y, x), and a "
            "multichannel or time series one channel/time point per volume"
        )
    names = getattr(image.metadata, "dimension_names", None)
    if names is not None and tuple(names) != AXES:
        raise InputError(
            f"{where} has axes {tuple(names)}; volseg reads (z, y, x) volumes: transpose "
            "the image to (z, y, x) and store it again (`volseg ingest`)"
        )
    dtype = image.dtype.name
    if dtype not in IMAGE_DTYPES:
        raise InputError(
            f"{where} has dtype {dtype}; volseg segments {', '.join(IMAGE_DTYPES)} images: "
            + _convert_hint()
        )


def _check_channels(volume: VolumeStore, header: CheckpointHeader) -> None:
    channels, slices = header.in_channels, int(volume.image(0).shape[0])
    if channels % 2 == 0:
        raise ConfigError(
            f"checkpoint {header.path} takes {channels} input channels; a 2.5D model takes a "
            "slice and as many neighbours on each side, an odd count (1, 3, 5, ...): use a "
            "checkpoint trained with an odd channel count"
        )
    if channels > slices:
        raise InputError(
            f"checkpoint {header.path} takes {channels} neighbouring slices per image but "
            f"{volume.path} has {slices}; segment a volume of at least {channels} slices, or "
            "use a checkpoint with fewer input channels"
        )


def _check_voxel_size(
    volume: VolumeStore, header: CheckpointHeader, config: SegmentConfig
) -> list[str]:
    trained = header.info.voxel_size
    if trained is None:
        return []
    have = volume.voxel_size
    # A 2D model (one channel) never sees the z spacing.
    axes = range(3) if header.in_channels > 1 else range(1, 3)
    far = [
        AXES[i]
        for i in axes
        if max(have[i], trained[i]) / min(have[i], trained[i]) > VOXEL_SIZE_RATIO
    ]
    if not far:
        return []
    what = (
        f"{volume.path} has voxel size {tuple(have)} µm (z, y, x) but checkpoint "
        f"{header.path} was trained on {tuple(trained)} µm: more than "
        f"{VOXEL_SIZE_RATIO}x apart on {', '.join(far)}"
    )
    if config.ignore_voxel_size:
        return [f"{what} (ignored: ignore_voxel_size)"]
    raise InputError(
        f"{what}; resample the volume to the checkpoint's voxel size, fix its voxel size "
        "metadata (`volseg ingest --voxel-size`), or pass --ignore-voxel-size to segment "
        "it as it is"
    )


def check_inputs(volume: VolumeStore, header: CheckpointHeader, config: SegmentConfig) -> list[str]:
    """Refuse a volume and checkpoint that cannot be segmented together, before the model
    loads and before the output store is created.

    Parameters
    ----------
    volume
        The opened input volume.
    header
        The checkpoint's header (:func:`volseg.models.read_checkpoint_header`).
    config
        The run's config (``ignore_voxel_size``).

    Returns
    -------
    list of str
        Notes for the provenance: a voxel size mismatch that ``ignore_voxel_size`` let
        through; empty when nothing was overridden.

    Raises
    ------
    InputError
        The image is not 3D, its axes are not (z, y, x), its dtype is not uint8, uint16 or
        float32 (others are refused, not cast: convert them), it has fewer slices than the
        checkpoint's input channels, or its voxel size is more than
        :data:`VOXEL_SIZE_RATIO` times the checkpoint's (or less than its inverse) on an
        axis the model sees (y and x; z too for a 2.5D model) and ``ignore_voxel_size`` is
        false. Either voxel size unknown: no voxel size check.
    ConfigError
        The checkpoint takes an even number of input channels (a 2.5D window is centred).
    """
    _check_image(volume)
    _check_channels(volume, header)
    return _check_voxel_size(volume, header, config)
