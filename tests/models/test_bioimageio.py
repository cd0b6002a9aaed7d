"""bioimage.io packages: bioimageio.core's own model test passes offline for both weight
formats, and volseg runs a package exactly as the checkpoint it came from."""

from __future__ import annotations

import io
import socket
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from volseg.errors import CheckpointError
from volseg.io import open_labels, open_volume
from volseg.models import build_model, export_bioimageio, load_checkpoint, save_checkpoint
from volseg.segment import make_segment_config, segment
from volseg.testing import run_volseg
from volseg.tiling import derive_context

# bioimageio.core loads TorchScript with torch.jit.load, which torch 2.9+ deprecates; the
# format is what bioimage.io tools run, so the warning is expected here and only here.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No network (any connection attempt fails the test) and bioimage.io's cache in tmp."""
    from bioimageio.spec._internal._settings import settings

    def refuse(self: socket.socket, address: object) -> None:
        raise AssertionError(f"the test tried to connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("BIOIMAGEIO_CACHE_PATH", str(tmp_path / "cache"))
    monkeypatch.setattr(settings, "cache_path", tmp_path / "cache")


@pytest.fixture(scope="module")
def segnet_25d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded 2.5D SegNet (3 slices as channels, width 4) with the full metadata."""
    torch.manual_seed(1)
    model = build_model("segnet", in_channels=3, num_classes=2, width=4).eval()
    path = tmp_path_factory.mktemp("segnet") / "segnet.pt"
    save_checkpoint(
        path,
        model,
        architecture="segnet",
        arguments={"in_channels": 3, "num_classes": 2, "width": 4},
        metadata={
            "classes": ["background", "dendrite"],
            "normalization": {"mean": 90.0, "std": 30.0},
            "logit_offsets": [0.0, -3.0],
            "metrics": {"val_iou_dendrite": 0.5},
        },
    )
    return path


@pytest.fixture(scope="module")
def unet_package(tile_inputs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):
    """The unet-small checkpoint of ``tile_inputs`` exported with its phantom as sample."""
    store, ckpt = tile_inputs
    out = tmp_path_factory.mktemp("package") / "unet.zip"
    return ckpt, export_bioimageio(ckpt, out, sample=store, authors=["Ada Lovelace"])


def _rdf(package: Path) -> dict:
    with zipfile.ZipFile(package) as archive:
        return yaml.safe_load(archive.read("rdf.yaml"))


def _rewrite(package: Path, out: Path, **replace: bytes) -> Path:
    """A copy of ``package`` with some members' bytes replaced."""
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, replace.get(name.replace(".", "_"), src.read(name)))
    return out


def _check_passed(package: Path) -> None:
    from bioimageio.core import test_model

    summary = test_model(package, devices=["cpu"])
    assert summary.status == "passed", summary.format()
    reproduced = {
        d.name for d in summary.details if d.name.startswith("Reproduce") and d.status == "passed"
    }
    assert reproduced == {
        "Reproduce test outputs from test inputs (pytorch_state_dict)",
        "Reproduce test outputs from test inputs (torchscript)",
    }, summary.format()


def test_unet_package_passes_bioimageio_core_test_offline(unet_package, offline):
    _check_passed(unet_package[1])


def test_25d_segnet_package_passes_bioimageio_core_test_offline(segnet_25d, tmp_path, offline):
    package = export_bioimageio(segnet_25d, tmp_path / "segnet.zip", authors=["A B"])
    _check_passed(package)
    rdf = _rdf(package)
    assert rdf["inputs"][0]["axes"][1]["channel_names"] == ["z-1", "z", "z+1"]
    assert rdf["outputs"][0]["axes"][1]["channel_names"] == ["background", "dendrite"]
    assert rdf["cite"][0]["doi"] == "10.1109/TPAMI.2016.2644615"


def test_package_describes_the_checkpoint(unet_package, tile_inputs):
    ckpt_path, package = unet_package
    ckpt = load_checkpoint(ckpt_path)
    rdf = _rdf(package)
    (raw,), (out,) = rdf["inputs"], rdf["outputs"]
    y = raw["axes"][2]
    assert y["size"]["step"] == ckpt.alignment == 16
    halo = derive_context(alignment=16)
    assert out["axes"][2]["halo"] == halo and y["size"]["min"] - 2 * halo >= 1
    normalize = {"id": "fixed_zero_mean_unit_variance", "kwargs": {"mean": 100.0, "std": 40.0}}
    assert [step for step in raw["preprocessing"] if step["id"] != "ensure_dtype"] == [normalize]
    assert out["axes"][1]["channel_names"] == ckpt.metadata["classes"]
    assert set(rdf["weights"]) == {"pytorch_state_dict", "torchscript"}
    state = rdf["weights"]["pytorch_state_dict"]
    assert state["sha256"] == ckpt.sha256  # the checkpoint's weight bytes, as they are
    assert state["architecture"]["import_from"] == "volseg.models"
    assert rdf["config"]["volseg"]["metadata"]["classes"] == ckpt.metadata["classes"]
    assert rdf["authors"] == [{"name": "Ada Lovelace"}]
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        test_input = np.load(io.BytesIO(archive.read("test_input.npy")))
        readme = archive.read("README.md").decode()
    assert {"README.md", "cover.png", "test_input.npy", "test_output.npy"} <= names
    assert test_input.shape == (1, 1, 128, 128)  # the phantom sample, its 128 px centre
    np.testing.assert_array_equal(test_input[0, 0], open_volume(tile_inputs[0]).values[1])
    assert "## Validation" in readme


def test_package_loads_as_the_checkpoint(unet_package, smooth_image):
    ckpt_path, package = unet_package
    a, b = load_checkpoint(ckpt_path), load_checkpoint(package)
    assert (b.sha256, b.architecture, b.arguments) == (a.sha256, a.architecture, a.arguments)
    for key in ("classes", "normalization", "logit_offsets"):
        assert b.metadata[key] == a.metadata[key]
    x = smooth_image(2, 1, 48, 64)
    with torch.no_grad():
        torch.testing.assert_close(b.model(x), a.model(x), rtol=0, atol=0)


def test_segmenting_with_the_package_gives_the_checkpoints_labels(
    unet_package, tile_inputs, tmp_path
):
    store, _ = tile_inputs
    runs = {}
    for kind, model in zip(("checkpoint", "package"), unet_package, strict=True):
        config = make_segment_config(
            {
                "volume": str(store),
                "model": str(model),
                "out": str(tmp_path / f"{kind}.zarr"),
                "tile": 64,
                "overlap": 16,
                "device": "cpu",
            }
        )
        runs[kind] = segment(config, progress=False, inline=True)
    assert runs["checkpoint"].ok and runs["package"].ok
    a = open_labels(runs["checkpoint"].out, "segmentation").values
    b = open_labels(runs["package"].out, "segmentation").values
    np.testing.assert_array_equal(b, a)
    assert len(np.unique(a)) > 1  # the seeded model's labels vary in space
    assert runs["package"].config["weights_sha256"] == runs["checkpoint"].config["weights_sha256"]


def test_a_package_with_altered_weights_is_refused(unet_package, tmp_path):
    _, package = unet_package
    with zipfile.ZipFile(package) as archive:
        raw = bytearray(archive.read("weights.pt"))
    raw[-100] ^= 1
    bad = _rewrite(package, tmp_path / "bad.zip", weights_pt=bytes(raw))
    with pytest.raises(CheckpointError, match=r"corrupted.*hash to sha256"):
        load_checkpoint(bad)


def test_a_package_volseg_cannot_run_is_refused_saying_what_it_needs(unet_package, tmp_path):
    _, package = unet_package
    rdf = _rdf(package)
    del rdf["weights"]["pytorch_state_dict"]
    other = _rewrite(package, tmp_path / "other.zip", rdf_yaml=yaml.safe_dump(rdf).encode())
    with pytest.raises(CheckpointError, match="cannot run: it has torchscript weights") as err:
        load_checkpoint(other)
    assert "volseg export-model" in str(err.value) and "\n" not in str(err.value)


def test_export_model_cli_errors_are_one_clear_line(tmp_path, tile_inputs):
    _, ckpt = tile_inputs
    (tmp_path / "taken.zip").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    cases = {
        (tmp_path / "missing.pt", tmp_path / "a.zip"): "checkpoint not found",
        (tmp_path / "notes.txt", tmp_path / "a.zip"): "not a readable volseg checkpoint",
        (ckpt, tmp_path / "a.tar"): "must end in .zip",
        (ckpt, tmp_path / "taken.zip"): "exists; pass overwrite",
    }
    for (source, out), message in cases.items():
        result = run_volseg("export-model", source, out)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr
    assert (tmp_path / "taken.zip").read_bytes() == b"x"
    assert not (tmp_path / "a.zip").exists()


def test_overwrite_replaces_a_package_given_a_relative_path(tile_inputs, tmp_path, monkeypatch):
    _, ckpt = tile_inputs
    monkeypatch.chdir(tmp_path)
    Path("m.zip").write_bytes(b"old")
    package = export_bioimageio(ckpt, "m.zip", overwrite=True)
    assert load_checkpoint(package).sha256 == load_checkpoint(ckpt).sha256
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.zip"]  # no temporary left
