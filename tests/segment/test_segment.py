"""volseg segment end to end: a real store, a real checkpoint, a real LocalCluster."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import zarr
from ome_zarr_models.v05.image import Image as OmeImage

from volseg.errors import ResumeMismatchError, RunLockedError
from volseg.io import open_labels, open_volume
from volseg.models import build_model, save_checkpoint
from volseg.phantom import PhantomConfig, generate_phantom
from volseg.runtime import RunLock
from volseg.segment import make_segment_config, segment
from volseg.testing import run_volseg

CLASSES = ["background", "soma", "vessel"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("seg")
    store = generate_phantom(
        root / "vol.zarr",
        PhantomConfig(shape=(6, 100, 90), seed=5),
        chunks=(2, 32, 32),
        levels=2,
        progress=False,
    )
    torch.manual_seed(0)
    model = build_model("unet-small", in_channels=1, num_classes=3, width=4)
    # batch-norm statistics from the data, so the untrained net's labels vary in space
    x = (
        torch.from_numpy(open_volume(store.path).values[:, None, :96, :80].astype("float32"))
        - 100.0
    ) / 40.0
    model.train()
    with torch.no_grad():
        for _ in range(30):
            model(x)
    model.eval()
    ckpt = root / "model.pt"
    save_checkpoint(
        ckpt,
        model,
        architecture="unet-small",
        arguments={"in_channels": 1, "num_classes": 3, "width": 4},
        metadata={
            "classes": CLASSES,
            "normalization": {"mean": 100.0, "std": 40.0},
            "logit_offsets": [0.0, 0.3, -0.2],
        },
    )
    return root, store.path, ckpt


def _run(inputs, out, **kw):
    _, vol, ckpt = inputs
    values = {
        "volume": str(vol),
        "model": str(ckpt),
        "out": str(out),
        "tile": 32,
        "overlap": 16,
        "batch_size": 4,
        "workers": 2,
        "device": "cpu",
    }
    values.update(kw)
    return segment(make_segment_config(values), progress=False)


def test_labels_do_not_depend_on_blocks_or_workers(inputs, tmp_path):
    a = _run(inputs, tmp_path / "a.zarr", block_shape=(2, 32, 32), workers=2)
    b = _run(inputs, tmp_path / "b.zarr", block_shape=(4, 64, 64), workers=1)
    assert a.ok and b.ok
    assert a.summary.total > b.summary.total > 1
    la, lb = open_labels(a.out, "segmentation").values, open_labels(b.out, "segmentation").values
    np.testing.assert_array_equal(la, lb)
    assert len(np.unique(la)) > 1  # the seeded model does not predict one class everywhere


def test_output_store_is_complete_valid_and_holds_the_image(inputs, tmp_path):
    _, vol, _ = inputs
    res = _run(inputs, tmp_path / "o.zarr", probabilities="uint8", uncertainty=True)
    np.testing.assert_array_equal(open_volume(res.out).values, open_volume(vol).values)
    seg = open_labels(res.out, "segmentation")
    assert seg.attrs["classes"] == CLASSES and seg.dtype == np.uint8
    assert open_labels(res.out, "segmentation", level=1).shape == (3, 50, 45)
    group = zarr.open_group(res.out, mode="r")
    OmeImage.from_zarr(group)
    probs = np.asarray(group["probabilities"])
    assert probs.shape == (3, 6, 100, 90) and probs.dtype == np.uint8
    assert np.abs(probs.astype(int).sum(axis=0) - 255).max() <= 2  # quantized, sums to 1
    assert np.asarray(group["uncertainty"]).dtype == np.float16
    prov = group.attrs["volseg"]["provenance"]
    assert prov["config"]["tile"] == 32 and len(prov["inputs"][1]["sha256"]) == 64


def test_resume_skips_done_blocks_and_refuses_a_changed_config(inputs, tmp_path):
    out = tmp_path / "r.zarr"
    first = _run(inputs, out, block_shape=(2, 32, 32))
    again = _run(inputs, out, block_shape=(2, 32, 32), resume=True)
    assert again.summary.skipped == first.summary.total and again.summary.done == 0
    with pytest.raises(ResumeMismatchError, match="window"):
        _run(inputs, out, block_shape=(2, 32, 32), resume=True, window="uniform")
    with RunLock(out), pytest.raises(RunLockedError):
        _run(inputs, out, block_shape=(2, 32, 32), resume=True)


def test_cli_segment_then_evaluate(inputs, tmp_path):
    _, vol, ckpt = inputs
    res = run_volseg(
        "segment",
        str(vol),
        "--model",
        str(ckpt),
        "--out",
        str(tmp_path / "c.zarr"),
        "--tile",
        "32",
        "--overlap",
        "16",
        "--workers",
        "1",
        "--no-progress",
    )
    assert res.returncode == 0, res.stderr
    assert "0 failed" in res.stdout
    res = run_volseg(
        "evaluate",
        str(tmp_path / "c.zarr"),
        str(vol),
        "--no-progress",
        "--out",
        str(tmp_path / "ev"),
    )
    assert res.returncode == 0, res.stderr
    assert "| soma |" in res.stdout


def test_default_blocks_span_whole_slices_so_each_tile_runs_once() -> None:
    from volseg.segment import segment_plan
    from volseg.tiling import TileGrid

    grid = segment_plan((1800, 2300, 1920), (16, 512, 512), None)
    assert grid.grid_shape == (113, 1, 1)  # one chunk deep, whole 2300 x 1920 slices
    huge = segment_plan((100, 8192, 8192), (16, 512, 512), None)
    assert huge.block_shape == (16, 4096, 4096)  # slices above 16 Mi px are split
    assert segment_plan((8, 64, 64), (2, 32, 32), (2, 32, 64)).block_shape == (2, 32, 64)
    # why: 1024² blocks would run the tiles along block borders twice
    tiles = TileGrid((2300, 1920), 512, 128)
    once = len(tiles.tiles_touching(0, 2300, 0, 1920))
    split = sum(
        len(tiles.tiles_touching(y, min(y + 1024, 2300), x, min(x + 1024, 1920)))
        for y in range(0, 2300, 1024)
        for x in range(0, 1920, 1024)
    )
    assert split / once == pytest.approx(1.6)
