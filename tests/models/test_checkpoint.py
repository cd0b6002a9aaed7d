from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import pytest
import torch

import volseg
from volseg.errors import CheckpointError, ConfigError, InputNotFoundError
from volseg.models import build_model, load_checkpoint, save_checkpoint

ARGS = {"in_channels": 1, "num_classes": 2, "width": 4}
META = {
    "classes": ["background", "soma"],
    "normalization": {"mean": 0.45, "std": 0.12},
    "voxel_size": [0.65, 0.65, 0.65],
    "class_weights": [0.52, 12.3],
    "metrics": {"iou": 0.81},
}


@pytest.fixture
def trained(seeded) -> torch.nn.Module:
    model = build_model("segnet", **ARGS)
    # a few train-mode forwards move the BatchNorm running statistics off their defaults
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(2, 1, 64, 64))
    return model.eval()


@pytest.fixture
def saved(tmp_path, trained) -> tuple[Path, str]:
    path = tmp_path / "ckpt" / "model.pt"
    digest = save_checkpoint(path, trained, architecture="segnet", arguments=ARGS, metadata=META)
    return path, digest


def test_round_trip_gives_bit_identical_outputs(saved, trained, smooth_image):
    path, digest = saved
    ckpt = load_checkpoint(path, expected_sha256=digest, in_channels=1, num_classes=2)
    assert not ckpt.model.training
    assert (ckpt.architecture, ckpt.arguments, ckpt.alignment) == ("segnet", ARGS, 32)
    assert (ckpt.in_channels, ckpt.num_classes, ckpt.sha256) == (1, 2, digest)
    assert ckpt.metadata == {**META, "volseg_version": volseg.__version__}
    x = smooth_image(2, 1, 64, 96)
    with torch.no_grad():
        assert torch.equal(ckpt.model(x), trained(x))
    assert list(path.parent.iterdir()) == [path]  # no temp file left behind


def test_hash_is_over_the_stored_weight_bytes_and_stable(saved, trained, tmp_path):
    path, digest = saved
    payload = torch.load(path, weights_only=True)
    assert hashlib.sha256(payload["weights"].numpy().tobytes()).hexdigest() == digest
    state = torch.load(io.BytesIO(payload["weights"].numpy().tobytes()), weights_only=True)
    assert torch.equal(state["classifier.weight"], trained.classifier.weight)
    again = save_checkpoint(
        tmp_path / "b.pt", trained, architecture="segnet", arguments=ARGS, metadata={}
    )
    assert again == digest  # same weights, same hash, whatever the metadata


def test_corrupted_byte_is_refused_naming_file_and_hashes(saved):
    path, digest = saved
    data = bytearray(path.read_bytes())
    weights = torch.load(path, weights_only=True)["weights"].numpy().tobytes()
    at = data.find(weights[len(weights) // 2 : len(weights) // 2 + 64])
    assert at > 0
    data[at + 7] ^= 0x55
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupted") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and digest in str(err.value)


def test_truncated_or_foreign_file_is_refused(saved, tmp_path):
    path, _ = saved
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="not a readable volseg checkpoint"):
        load_checkpoint(cut)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable volseg checkpoint"):
        load_checkpoint(text)
    plain = tmp_path / "state.pt"
    torch.save({"a": torch.zeros(2)}, plain)
    with pytest.raises(CheckpointError, match="not a volseg checkpoint"):
        load_checkpoint(plain)
    with pytest.raises(InputNotFoundError, match=r"missing\.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_expected_sha256_mismatch_is_refused(saved):
    path, digest = saved
    other = "0" * 64
    with pytest.raises(CheckpointError, match="expected") as err:
        load_checkpoint(path, expected_sha256=other)
    assert digest in str(err.value) and other in str(err.value)
    assert load_checkpoint(path, expected_sha256=digest.upper()).sha256 == digest


def test_tampered_recorded_hash_is_refused(saved, tmp_path):
    path, digest = saved
    payload = torch.load(path, weights_only=True)
    payload["weights_sha256"] = "f" * 64
    bad = tmp_path / "bad.pt"
    torch.save(payload, bad)
    with pytest.raises(CheckpointError, match=f"hash to sha256 {digest}"):
        load_checkpoint(bad)


def test_incompatible_use_is_refused_with_what_the_checkpoint_has(saved):
    path, _ = saved
    with pytest.raises(CheckpointError, match="has num_classes=2 but num_classes=3") as err:
        load_checkpoint(path, num_classes=3)
    assert "background" in str(err.value)
    with pytest.raises(CheckpointError, match="has in_channels=1 but in_channels=5"):
        load_checkpoint(path, in_channels=5)


def test_save_refuses_mismatched_arguments_and_non_json_metadata(trained, tmp_path):
    path = tmp_path / "m.pt"
    with pytest.raises(ConfigError, match="does not match architecture"):
        save_checkpoint(
            path, trained, architecture="segnet", arguments={**ARGS, "width": 8}, metadata={}
        )
    with pytest.raises(ConfigError, match="unknown model"):
        save_checkpoint(path, trained, architecture="nope", arguments=ARGS, metadata={})
    with pytest.raises(ConfigError, match="plain JSON types"):
        save_checkpoint(
            path, trained, architecture="segnet", arguments=ARGS, metadata={"x": object()}
        )
    assert not path.exists()


def test_checkpoint_is_readable_by_others_as_umask_allows(saved):
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(saved[0].stat().st_mode) == 0o666 & ~umask
