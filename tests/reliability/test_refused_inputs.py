"""Inputs volseg cannot segment are refused before the model loads and before the output
exists: one error line naming the problem and the fix, through the API and the CLI.

The checkpoint used for the refusals has a readable header but corrupted weights: loading
its model fails, so an input error that comes back shows the check ran first."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr

from volseg.errors import CheckpointError, ConfigError, InputError
from volseg.io import VolumeStore
from volseg.models import build_model, load_checkpoint, read_checkpoint_header, save_checkpoint
from volseg.segment import make_segment_config, segment
from volseg.testing import run_volseg, write_tiny_checkpoint

IMAGE = np.random.default_rng(0).integers(60, 140, (4, 64, 64)).astype(np.uint8)


def _checkpoint(
    path: Path, *, in_channels: int = 1, voxel_size: tuple[float, ...] | None = None
) -> Path:
    torch.manual_seed(0)
    model = build_model("unet-small", in_channels=in_channels, num_classes=2, width=4)
    metadata: dict[str, object] = {"normalization": {"mean": 100.0, "std": 40.0}}
    if voxel_size is not None:
        metadata["voxel_size"] = list(voxel_size)
    save_checkpoint(
        path,
        model,
        architecture="unet-small",
        arguments={"in_channels": in_channels, "num_classes": 2, "width": 4},
        metadata=metadata,
    )
    return path


def _corrupt_weights(path: Path) -> Path:
    """Flip bytes of the stored weights, leaving the header readable."""
    payload = torch.load(path, weights_only=True)
    weights = payload["weights"].clone()
    weights[len(weights) // 2 : len(weights) // 2 + 64] ^= 0xFF
    torch.save({**payload, "weights": weights}, path)
    return path


def _volume(
    path: Path,
    data: np.ndarray,
    *,
    dimension_names: tuple[str, ...] | None = ("z", "y", "x"),
    voxel_size: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> Path:
    """A complete volseg store whose level-0 array is ``data`` as it is (any dtype/rank)."""
    store = VolumeStore.create(path, shape=(4, 64, 64), dtype="uint8", voxel_size=voxel_size)
    group = zarr.open_group(path, mode="r+")
    array = group.create_array(
        "0",
        shape=data.shape,
        dtype=data.dtype,
        dimension_names=dimension_names,
        overwrite=True,
    )
    array[...] = data
    store.mark_complete()
    return path


# Each case: (volume from a folder, checkpoint from a folder, error type, words the
# message must hold: the problem and the fix).
Case = tuple[Callable[[Path], Path], Callable[[Path], Path], type[Exception], tuple[str, ...]]
CASES: dict[str, Case] = {
    "float64": (
        lambda d: _volume(d / "v.zarr", IMAGE.astype(np.float64)),
        lambda d: _checkpoint(d / "m.pt"),
        InputError,
        ("dtype float64", "uint8, uint16, float32", "astype('float32')", "volseg ingest"),
    ),
    "int8": (
        lambda d: _volume(d / "v.zarr", (IMAGE // 2).astype(np.int8)),
        lambda d: _checkpoint(d / "m.pt"),
        InputError,
        ("dtype int8", "uint8, uint16, float32", "astype('float32')"),
    ),
    "2d": (
        lambda d: _volume(d / "v.zarr", IMAGE[0], dimension_names=("y", "x")),
        lambda d: _checkpoint(d / "m.pt"),
        InputError,
        ("2 dimensions (64, 64)", "(z, y, x)", "one slice of shape (1, y, x)"),
    ),
    "4d": (
        lambda d: _volume(d / "v.zarr", IMAGE[None], dimension_names=("c", "z", "y", "x")),
        lambda d: _checkpoint(d / "m.pt"),
        InputError,
        ("4 dimensions (1, 4, 64, 64)", "one channel/time point per volume"),
    ),
    "axes": (
        lambda d: _volume(d / "v.zarr", IMAGE, dimension_names=("c", "y", "x")),
        lambda d: _checkpoint(d / "m.pt"),
        InputError,
        ("axes ('c', 'y', 'x')", "transpose the image to (z, y, x)"),
    ),
    "even-channels": (
        lambda d: _volume(d / "v.zarr", IMAGE),
        lambda d: _checkpoint(d / "m.pt", in_channels=2),
        ConfigError,
        ("takes 2 input channels", "odd count", "trained with an odd channel count"),
    ),
    "more-channels-than-slices": (
        lambda d: _volume(d / "v.zarr", IMAGE[:2]),
        lambda d: _checkpoint(d / "m.pt", in_channels=3),
        InputError,
        ("takes 3 neighbouring slices", "has 2", "at least 3 slices"),
    ),
    "voxel-size": (
        lambda d: _volume(d / "v.zarr", IMAGE, voxel_size=(1.0, 1.0, 1.0)),
        lambda d: _checkpoint(d / "m.pt", voxel_size=(1.0, 0.4, 0.4)),
        InputError,
        ("(1.0, 1.0, 1.0)", "(1.0, 0.4, 0.4)", "on y, x", "--ignore-voxel-size", "resample"),
    ),
}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path, Case]:
    make_volume, make_checkpoint, *_ = CASES[request.param]
    ckpt = _corrupt_weights(make_checkpoint(tmp_path))
    return make_volume(tmp_path), ckpt, CASES[request.param]


def test_the_corrupted_checkpoint_fails_to_load_but_its_header_reads(tmp_path: Path) -> None:
    ckpt = _corrupt_weights(_checkpoint(tmp_path / "m.pt", in_channels=3))
    header = read_checkpoint_header(ckpt)
    assert (header.in_channels, header.num_classes, header.architecture) == (3, 2, "unet-small")
    with pytest.raises(CheckpointError, match="is corrupted"):
        load_checkpoint(ckpt)


def test_a_refused_input_is_one_line_naming_problem_and_fix_before_model_and_output(
    case: tuple[Path, Path, Case], tmp_path: Path
) -> None:
    volume, ckpt, (_, _, error, words) = case
    out = tmp_path / "out.zarr"
    config = make_segment_config(
        {"volume": str(volume), "model": str(ckpt), "out": str(out), "device": "cpu"}
    )
    with pytest.raises(error) as info:
        segment(config, progress=False, inline=True)
    text = str(info.value)
    assert "\n" not in text
    for word in words:
        assert word in text
    assert not out.exists()


def test_the_cli_refuses_it_with_exit_2_and_no_traceback(
    case: tuple[Path, Path, Case], tmp_path: Path
) -> None:
    volume, ckpt, (_, _, _, words) = case
    out = tmp_path / "out.zarr"
    res = run_volseg(
        "segment", volume, "--model", ckpt, "--out", out, "--device", "cpu", "--no-progress"
    )
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert all(word in res.stderr for word in words), res.stderr
    assert not out.exists()


def test_multiscales_axes_other_than_zyx_are_refused_before_the_output(tmp_path: Path) -> None:
    volume = _volume(tmp_path / "v.zarr", IMAGE)
    group = zarr.open_group(volume, mode="r+")
    ome = dict(group.attrs["ome"])
    ome["multiscales"][0]["axes"][0]["name"] = "c"
    group.attrs["ome"] = ome
    ckpt = _corrupt_weights(_checkpoint(tmp_path / "m.pt"))
    out = tmp_path / "out.zarr"
    res = run_volseg(
        "segment", volume, "--model", ckpt, "--out", out, "--device", "cpu", "--no-progress"
    )
    assert res.returncode == 2, res.stderr
    assert "has axes ('c', 'y', 'x')" in res.stderr and "Traceback" not in res.stderr
    assert not out.exists()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working checkpoint trained (nominally) on 0.4 µm pixels."""
    path = write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "m.pt", IMAGE[:1])
    payload = torch.load(path, weights_only=True)
    payload["metadata"]["voxel_size"] = [5.0, 0.4, 0.4]
    torch.save(payload, path)
    return path


def _run(volume: Path, ckpt: Path, out: Path, **kw: object):
    values = {"volume": str(volume), "model": str(ckpt), "out": str(out), "tile": 32}
    config = make_segment_config(values | {"overlap": 16, "device": "cpu"} | kw)
    return segment(config, progress=False, inline=True)


def test_ignore_voxel_size_runs_and_is_recorded_in_provenance(tiny: Path, tmp_path: Path) -> None:
    volume = _volume(tmp_path / "v.zarr", IMAGE)
    with pytest.raises(InputError, match="--ignore-voxel-size"):
        _run(volume, tiny, tmp_path / "refused.zarr")
    result = _run(volume, tiny, tmp_path / "o.zarr", ignore_voxel_size=True)
    assert result.ok
    config = VolumeStore.open(result.out).meta["provenance"]["config"]
    assert config["ignore_voxel_size"] is True
    [note] = config["input_notes"]
    assert "trained on (5.0, 0.4, 0.4) µm" in note and note.endswith("(ignored: ignore_voxel_size)")
    assert json.loads(json.dumps(config)) == config


def test_a_2d_model_runs_on_any_z_spacing_close_in_y_and_x(tiny: Path, tmp_path: Path) -> None:
    volume = _volume(tmp_path / "v.zarr", IMAGE, voxel_size=(1.0, 0.5, 0.35))
    result = _run(volume, tiny, tmp_path / "o.zarr")
    assert result.ok
    assert VolumeStore.open(result.out).meta["provenance"]["config"]["input_notes"] == []
