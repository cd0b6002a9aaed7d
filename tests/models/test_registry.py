from __future__ import annotations

import pytest
import torch

from volseg.errors import ConfigError
from volseg.models import SegNet, UNet, available_models, build_model, register_model
from volseg.models._registry import _REGISTRY


def test_builtin_models_are_registered_with_descriptions():
    models = available_models()
    assert {"segnet", "segnet-lite", "unet-small"} <= set(models)
    assert all(isinstance(d, str) and d for d in models.values())


def test_build_model_gives_the_named_architecture():
    lite = build_model("segnet-lite", in_channels=1, num_classes=2)
    assert isinstance(lite, SegNet) and lite.width == 16 and lite.alignment == 32
    assert sum(p.numel() for p in lite.parameters()) == 1_844_978
    full = build_model("segnet", in_channels=2, num_classes=4, width=8)
    assert isinstance(full, SegNet) and (full.in_channels, full.num_classes) == (2, 4)
    unet = build_model("unet-small", num_classes=3)
    assert isinstance(unet, UNet) and unet.alignment == 16 and unet.width == 16


def test_unknown_name_lists_available_models():
    with pytest.raises(ConfigError, match=r"unknown model 'segnett'.*'segnet-lite'"):
        build_model("segnett")


def test_unknown_argument_is_a_config_error():
    with pytest.raises(ConfigError, match="accepts: in_channels, num_classes"):
        build_model("segnet-lite", width=64)


def test_register_custom_model_and_refuse_duplicates():
    def tiny(*, in_channels: int = 1, num_classes: int = 2) -> torch.nn.Module:
        return SegNet(in_channels=in_channels, num_classes=num_classes, width=2)

    try:
        register_model("test-tiny", tiny, description="tiny test model")
        assert available_models()["test-tiny"] == "tiny test model"
        assert build_model("test-tiny", num_classes=5).num_classes == 5
        with pytest.raises(ConfigError, match="already registered"):
            register_model("test-tiny", tiny, description="again")
        register_model("test-tiny", tiny, description="replaced", replace=True)
        assert available_models()["test-tiny"] == "replaced"
    finally:
        _REGISTRY.pop("test-tiny", None)


def test_factory_must_return_a_segmentation_model():
    def plain(*, in_channels: int = 1, num_classes: int = 2) -> torch.nn.Module:
        return torch.nn.Conv2d(in_channels, num_classes, 1)

    try:
        register_model("test-plain", plain, description="not a SegmentationModel")
        with pytest.raises(ConfigError, match=r"returned Conv2d, not a volseg\.models"):
            build_model("test-plain")
    finally:
        _REGISTRY.pop("test-plain", None)
