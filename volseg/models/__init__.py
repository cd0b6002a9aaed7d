"""Segmentation networks: SegNet (and a small U-Net), a registry, alignment, checkpoints.

Every model maps ``(N, in_channels, H, W)`` images to ``(N, num_classes, H, W)`` logits and
declares ``alignment``, the input size multiple the tiler must respect (SegNet: 32).
:func:`predict_logits` handles other sizes by padding and cropping.
"""

from volseg.models._alignment import PadMode, pad_to_alignment, predict_logits
from volseg.models._bioimageio import export_bioimageio
from volseg.models._blocks import ConvBNReLU, DecoderStage, EncoderStage, SegmentationModel
from volseg.models._checkpoint import (
    CHECKPOINT_FORMAT,
    Checkpoint,
    CheckpointHeader,
    load_checkpoint,
    read_checkpoint_header,
    save_checkpoint,
)
from volseg.models._device import DeviceChoice, autocast, resolve_device, resolve_precision
from volseg.models._freeze import (
    Freeze,
    FreezePreset,
    freeze_modules,
    frozen_modules,
    hold_frozen,
    trainable_parameters,
)
from volseg.models._fuse import fuse_for_inference
from volseg.models._metadata import ModelInfo
from volseg.models._packaged import ClassProbabilities, bioimageio_network
from volseg.models._registry import available_models, build_model, register_model
from volseg.models._segnet import SegNet, segnet
from volseg.models._unet import UNet, unet_small

__all__ = [
    "CHECKPOINT_FORMAT",
    "Checkpoint",
    "CheckpointHeader",
    "ClassProbabilities",
    "ConvBNReLU",
    "DecoderStage",
    "DeviceChoice",
    "EncoderStage",
    "Freeze",
    "FreezePreset",
    "ModelInfo",
    "PadMode",
    "SegNet",
    "SegmentationModel",
    "UNet",
    "autocast",
    "available_models",
    "bioimageio_network",
    "build_model",
    "export_bioimageio",
    "freeze_modules",
    "frozen_modules",
    "fuse_for_inference",
    "hold_frozen",
    "load_checkpoint",
    "pad_to_alignment",
    "predict_logits",
    "read_checkpoint_header",
    "register_model",
    "resolve_device",
    "resolve_precision",
    "save_checkpoint",
    "segnet",
    "trainable_parameters",
    "unet_small",
]
