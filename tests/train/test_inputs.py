"""Segmented training inputs (region kept, the rest one value) and fine-tuning with frozen
modules: real data files, a real model, real training steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from volseg.errors import CheckpointError, ConfigError, InputError
from volseg.models import build_model, frozen_modules, load_checkpoint, save_checkpoint
from volseg.testing import write_blob_dataset
from volseg.train import (
    InputConfig,
    fill_value,
    load_folder,
    make_config,
    region_masks,
    segment_inputs,
    train,
)


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    root = tmp_path_factory.mktemp("blobs_inputs")
    write_blob_dataset(root / "train", 4, (96, 96), seed=0)
    write_blob_dataset(root / "validate", 2, (96, 96), seed=1)
    return root


def test_segmented_images_keep_the_dilated_objects_and_fill_the_rest(blobs):
    sset = load_folder(blobs / "train")
    cfg = InputConfig(variant="segmented", dilate=3, fill="mean")
    masks = region_masks(sset, cfg)
    value = fill_value([sset], cfg)
    assert value == pytest.approx(np.mean([im.mean() for im in sset.images]))
    out = segment_inputs(sset, masks, value)
    for image, seg, label, mask in zip(sset.images, out.images, sset.labels, masks, strict=True):
        fg = label != 0
        assert mask[fg].all() and mask.sum() > fg.sum()  # objects plus a 3 px rim
        assert np.array_equal(seg[mask], image[mask])
        assert (seg[~mask] == np.float32(value)).all()
    assert out.labels is sset.labels
    assert fill_value([sset], InputConfig(fill="zero")) == 0.0
    assert fill_value([sset], InputConfig(fill=7.5)) == 7.5


def test_a_mask_folder_selects_the_region_and_bad_masks_are_refused(blobs, tmp_path):
    sset = load_folder(blobs / "train")
    masks = tmp_path / "masks"
    masks.mkdir()
    for name in sset.names:
        m = np.zeros((96, 96), np.uint8)
        m[10:50, 20:70] = 1
        Image.fromarray(m).save(masks / f"{name}.png")
    cfg = InputConfig(variant="segmented", region="mask", mask=str(masks))
    got = region_masks(sset, cfg)
    assert all(g.sum() == 40 * 50 and g[10:50, 20:70].all() for g in got)
    for name in sset.names:
        Image.fromarray(np.zeros((96, 96), np.uint8)).save(masks / f"{name}.png")
    with pytest.raises(InputError, match=r"region of interest .* is empty on every slice"):
        region_masks(sset, cfg)
    for name in sset.names:
        Image.fromarray(np.ones((64, 96), np.uint8)).save(masks / f"{name}.png")
    with pytest.raises(InputError, match=r"\(64, 96\) \(H, W\) but the image is \(96, 96\)"):
        region_masks(sset, cfg)
    with pytest.raises(InputError, match=r"does not exist"):
        region_masks(sset, InputConfig(variant="segmented", region="mask", mask="nope"))
    with pytest.raises(ValueError, match=r"region: mask needs mask"):
        InputConfig(variant="segmented", region="mask")


def test_unknown_freeze_names_list_the_valid_modules():
    model = build_model("segnet", in_channels=1, num_classes=2, width=4)
    assert frozen_modules(model, "encoder") == ["encoders"]
    assert frozen_modules(model, "all-but-last") == ["encoders", "decoders"]
    assert frozen_modules(model, ["encoders.0", "decoders"]) == ["encoders.0", "decoders"]
    with pytest.raises(ConfigError, match=r"no module 'encoder.9'.*valid: encoders, decoders"):
        frozen_modules(model, ["encoder.9"])
    unet = build_model("unet-small", in_channels=1, num_classes=2)
    assert frozen_modules(unet, "encoder") == ["down", "bottleneck"]


def _config(blobs, out, **kw):
    values = {
        "train": {"source": str(blobs / "train")},
        "validation": {"source": str(blobs / "validate")},
        "out": str(out),
        "model": "segnet",
        "model_arguments": {"width": 4},
        "crop_size": 64,
        "crops": 16,
        "batch_size": 8,
        "epochs": 2,
        "threads": 2,
        "seed": 0,
        **kw,
    }
    return make_config(values)


def test_fine_tuning_leaves_frozen_weights_bit_identical(blobs, tmp_path):
    pre = train(
        _config(blobs, tmp_path / "pre", inputs={"variant": "segmented", "dilate": 4}),
        progress=False,
    )
    meta = load_checkpoint(pre.last_checkpoint).metadata
    assert meta["inputs"]["variant"] == "segmented" and meta["inputs"]["fill_value"] > 0
    fine = train(
        _config(blobs, tmp_path / "fine", init=str(pre.last_checkpoint), freeze="encoder"),
        progress=False,
    )
    before = load_checkpoint(pre.last_checkpoint).model.state_dict()
    after_ckpt = load_checkpoint(fine.last_checkpoint)
    after = after_ckpt.model.state_dict()
    encoder = [k for k in before if k.startswith("encoders.")]
    assert encoder and all(torch.equal(before[k], after[k]) for k in encoder)  # incl. BN stats
    decoder = [k for k in before if k.startswith("decoders.") and k.endswith("weight")]
    assert any(not torch.equal(before[k], after[k]) for k in decoder)
    assert after_ckpt.metadata["frozen"] == ["encoders"]
    assert after_ckpt.metadata["normalization"] == meta["normalization"]
    assert after_ckpt.metadata["init"]["sha256"] == load_checkpoint(pre.last_checkpoint).sha256


def test_fine_tuning_a_checkpoint_without_normalization_is_refused(blobs, tmp_path):
    arguments = {"in_channels": 1, "num_classes": 2, "width": 4}
    foreign = tmp_path / "foreign.pt"
    model = build_model("segnet", **arguments)
    save_checkpoint(foreign, model, architecture="segnet", arguments=arguments, metadata={})
    with pytest.raises(CheckpointError, match=rf"checkpoint {foreign} has no input normalization"):
        train(_config(blobs, tmp_path / "fine", init=str(foreign)), progress=False)
    assert not (tmp_path / "fine" / "last.pt").exists()


def test_freeze_without_init_or_a_different_architecture_is_refused(blobs, tmp_path):
    with pytest.raises(ConfigError, match=r"freeze needs init"):
        _config(blobs, tmp_path / "x", freeze="encoder")
    pre = train(_config(blobs, tmp_path / "pre", epochs=1), progress=False)
    with pytest.raises(ConfigError, match=r"fine-tune with the same model and arguments"):
        train(
            _config(
                blobs, tmp_path / "y", init=str(pre.last_checkpoint), model_arguments={"width": 8}
            ),
            progress=False,
        )
