"""One segmentation run: resolved once, one predictor per worker, I/O beside compute."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr

from volseg.errors import RunLockedError, StoreExistsError
from volseg.geometry import Box
from volseg.infer import BlockPredictor, InferencePlan
from volseg.io import VolumeStore, open_labels
from volseg.models import build_model, save_checkpoint
from volseg.phantom import PhantomConfig, generate_phantom
from volseg.runtime import Ledger, RunLock, connect
from volseg.segment import PREFETCH, make_segment_config, resolve_run, segment


@pytest.fixture(scope="module")
def volume(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("segrun")
    store = generate_phantom(
        root / "vol.zarr",
        PhantomConfig(shape=(4, 64, 64), seed=2),
        chunks=(1, 64, 64),
        progress=False,
    )
    return store.path


def _checkpoint(path: Path, metadata: dict) -> Path:
    torch.manual_seed(0)
    model = build_model("unet-small", in_channels=1, num_classes=3, width=4).eval()
    save_checkpoint(
        path,
        model,
        architecture="unet-small",
        arguments={"in_channels": 1, "num_classes": 3, "width": 4},
        metadata={"normalization": {"mean": 100.0, "std": 40.0}, **metadata},
    )
    return path


def _config(volume: Path, model: Path, out: Path, **kw: object):
    values = {"volume": str(volume), "model": str(model), "out": str(out), "tile": 32}
    return make_segment_config(values | {"overlap": 16, "device": "cpu"} | kw)


def test_the_run_is_resolved_once_and_stored_with_the_output(volume: Path, tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path / "m.pt", {"classes": ["bg", "soma", "vessel"]})
    config = _config(volume, ckpt, tmp_path / "o.zarr")
    result = segment(config, progress=False, inline=True)
    assert result.ok
    run, _ = resolve_run(config, VolumeStore.open(volume))
    prov = zarr.open_group(result.out, mode="r").attrs["volseg"]["provenance"]
    assert prov["config"]["run"] == json.loads(json.dumps(run.to_json()))
    assert prov["config"]["run_hash"] == run.hash
    # the ledger's layout is the resolved run itself: no hand-kept exclusion list
    stored = Ledger(result.out).stored()
    assert stored is not None and stored["layout"] == prov["config"]["run"]
    assert (
        run.plan.tile == 32 and run.plan.overlap == 16 and run.plan.normalization == (100.0, 40.0)
    )
    # execution settings never enter it
    other, _ = resolve_run(
        _config(volume, ckpt, tmp_path / "x.zarr", workers=2, retries=0), VolumeStore.open(volume)
    )
    assert other.hash == run.hash


def test_unnamed_classes_get_one_name_per_model_class(volume: Path, tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path / "m.pt", {})  # three classes, none named
    result = segment(_config(volume, ckpt, tmp_path / "o.zarr"), progress=False, inline=True)
    assert result.ok
    labels = open_labels(result.out, "segmentation")
    assert labels.attrs["classes"] == ["class 0", "class 1", "class 2"]
    assert result.config["classes"] == ["class 0", "class 1", "class 2"]


def test_one_predictor_per_worker_for_every_block_and_a_prefetch_thread(
    volume: Path, tmp_path: Path
) -> None:
    ckpt = _checkpoint(tmp_path / "m.pt", {})
    with connect(n_workers=1, threads_per_worker=1, spare_threads=PREFETCH) as client:
        assert list(client.nthreads().values()) == [1 + PREFETCH]
        result = segment(_config(volume, ckpt, tmp_path / "o.zarr"), progress=False, client=client)
        assert result.ok and result.summary.done == 4  # one block per slice

        def builds() -> int:
            from volseg.infer import _worker

            return _worker.BUILDS

        assert list(client.run(builds).values()) == [1]
    inline = segment(_config(volume, ckpt, tmp_path / "i.zarr"), progress=False, inline=True)
    np.testing.assert_array_equal(
        open_labels(result.out, "segmentation").values,
        open_labels(inline.out, "segmentation").values,
    )


def test_threads_sharing_a_predictor_get_the_results_of_one_thread() -> None:
    torch.manual_seed(0)
    model = build_model("unet-small", in_channels=1, num_classes=3, width=4).eval()
    volume = np.random.default_rng(0).integers(0, 255, (4, 96, 80), dtype=np.uint8)
    plan = InferencePlan(
        volume_shape=volume.shape,
        tile=32,
        overlap=16,
        context=0,
        batch_size=3,
        normalization=(128.0, 60.0),
        outputs=frozenset({"probabilities"}),
    )
    predictor = BlockPredictor(model, plan)
    boxes = [Box((z, 0, 0), (z + 1, 96, 80)) for z in range(4)]
    whole = Box.from_shape(volume.shape)
    expected = [predictor.predict(b, volume, whole).probabilities for b in boxes]
    got: dict[int, np.ndarray | None] = {}

    def work(i: int) -> None:
        got[i] = predictor.predict(boxes[i], volume, whole).probabilities

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        np.testing.assert_array_equal(got[i], expected[i])
    assert all(p is not None and np.unique(p).size > 100 for p in expected)


def test_a_run_holding_the_lock_keeps_its_output_from_an_overwrite(
    volume: Path, tmp_path: Path
) -> None:
    ckpt = _checkpoint(tmp_path / "m.pt", {})
    out = tmp_path / "o.zarr"
    first = segment(_config(volume, ckpt, out), progress=False, inline=True)
    before = open_labels(first.out, "segmentation").values
    with RunLock(out), pytest.raises(RunLockedError):
        segment(_config(volume, ckpt, out, overwrite=True), progress=False, inline=True)
    np.testing.assert_array_equal(open_labels(out, "segmentation").values, before)
    # and without --overwrite an existing output is refused before anything is written
    with pytest.raises(StoreExistsError):
        segment(_config(volume, ckpt, out), progress=False, inline=True)
    assert not RunLock(out).held and RunLock(out).holder() is None
