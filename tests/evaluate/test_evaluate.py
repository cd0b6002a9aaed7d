from __future__ import annotations

import json

import numpy as np
import pytest
import zarr

from volseg.errors import InputError
from volseg.evaluate import evaluate_volumes, open_label_volume, write_report
from volseg.io import open_labels
from volseg.metrics import (
    bf1_scores,
    confusion_matrix,
    iou_per_class,
    mean_ignoring_nan,
    surface_bf1,
)
from volseg.phantom import PhantomConfig, generate_phantom
from volseg.testing import run_volseg


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    config = PhantomConfig(shape=(11, 96, 112), seed=4, voxel_size=(2.0, 1.0, 1.0))
    store = generate_phantom(root / "gt.zarr", config, chunks=(3, 64, 64), progress=False)
    gt = open_labels(store.path).values
    pred = np.roll(gt, 1, axis=2)  # boundaries shifted by one pixel
    pred[4] = np.where(gt[4] == 1, 0, gt[4])  # somas missed on one slice
    pred[7, 10:20, 10:20] = 2  # a false vessel
    np.save(root / "pred.npy", pred)
    return root, store.path, gt, pred


def test_volume_scores_equal_whole_array_references(phantom):
    root, gt_path, gt, pred = phantom
    ev = evaluate_volumes(
        open_label_volume(root / "pred.npy", role="pred"),
        open_label_volume(gt_path, role="gt"),
        progress=False,
    )
    assert ev.classes == ["background", "soma", "vessel"]
    np.testing.assert_array_equal(ev.confusion, confusion_matrix(pred, gt, 3))
    assert ev.accuracy == pytest.approx((pred == gt).mean())
    np.testing.assert_allclose(ev.iou, iou_per_class(pred, gt, 3))
    assert [r["z"] for r in ev.per_slice] == list(range(11))
    for c, name in enumerate(ev.classes):
        per = [bf1_scores(pred[z] == c, gt[z] == c).score for z in range(11)]
        np.testing.assert_allclose([r[f"bf1_{name}"] for r in ev.per_slice], per)
        assert ev.bf1[c] == pytest.approx(mean_ignoring_nan(per), nan_ok=True)
        whole = surface_bf1(pred == c, gt == c, voxel_size=(2.0, 1.0, 1.0), tolerance=2.0)
        got = ev.surface_bf1[c]
        assert (got.precision, got.recall) == pytest.approx(
            (whole.precision, whole.recall), nan_ok=True
        )
    assert ev.per_slice[4]["iou_soma"] == 0.0


def test_scores_do_not_depend_on_the_slab_layout(phantom, tmp_path):
    root, gt_path, _gt, pred = phantom
    zarr.create_array(tmp_path / "pred.zarr", data=pred, chunks=(4, 96, 112))
    a = evaluate_volumes(
        open_label_volume(tmp_path / "pred.zarr", role="pred"),
        open_label_volume(gt_path, role="gt"),
        num_workers=1,
        progress=False,
    )
    b = evaluate_volumes(
        open_label_volume(root / "pred.npy", role="pred"),
        open_label_volume(gt_path, role="gt"),
        num_workers=2,
        progress=False,
    )
    assert json.dumps(a.per_slice) == json.dumps(b.per_slice)  # NaN-aware equality
    assert [s.score for s in a.surface_bf1] == pytest.approx([s.score for s in b.surface_bf1])


def test_only_the_annotated_slices_are_scored(phantom):
    root, gt_path, gt, pred = phantom
    ev = evaluate_volumes(
        open_label_volume(root / "pred.npy", role="pred"),
        open_label_volume(gt_path, role="gt"),
        slices=[1, 4, 9],
        progress=False,
    )
    assert [r["z"] for r in ev.per_slice] == [1, 4, 9]
    np.testing.assert_array_equal(ev.confusion, confusion_matrix(pred[[1, 4, 9]], gt[[1, 4, 9]], 3))
    assert ev.surface_bf1 is None


def test_report_files(phantom, tmp_path):
    root, gt_path, _, _ = phantom
    ev = evaluate_volumes(
        open_label_volume(root / "pred.npy", role="pred"),
        open_label_volume(gt_path, role="gt"),
        progress=False,
    )
    paths = write_report(ev, tmp_path / "r")
    data = json.loads(paths["json"].read_text())
    assert data["summary"]["accuracy"] == pytest.approx(ev.accuracy)
    assert set(data["summary"]["iou"]) == {"background", "soma", "vessel"}
    assert len(data["per_slice"]) == 11
    lines = paths["csv"].read_text().splitlines()
    assert len(lines) == 12 and lines[0].startswith("z,accuracy,iou_background")
    assert "| soma |" in paths["md"].read_text()


def test_bad_inputs_are_named(phantom, tmp_path):
    _root, gt_path, _gt, pred = phantom
    np.save(tmp_path / "small.npy", pred[:5])
    with pytest.raises(InputError, match=r"shape \(5, 96, 112\) .* \(11, 96, 112\)"):
        evaluate_volumes(
            open_label_volume(tmp_path / "small.npy", role="pred"),
            open_label_volume(gt_path, role="gt"),
            progress=False,
        )
    np.save(tmp_path / "float.npy", pred.astype(np.float32))
    with pytest.raises(InputError, match="dtype float32"):
        open_label_volume(tmp_path / "float.npy", role="pred")
    bad = pred.copy()
    bad[6, 0, 0] = 7
    np.save(tmp_path / "range.npy", bad)
    with pytest.raises(InputError, match="slice 6"):
        evaluate_volumes(
            open_label_volume(tmp_path / "range.npy", role="pred"),
            open_label_volume(gt_path, role="gt"),
            progress=False,
        )


def test_cli_evaluate_with_overlays(phantom, tmp_path):
    root, gt_path, _, _ = phantom
    res = run_volseg(
        "evaluate",
        str(root / "pred.npy"),
        str(gt_path),
        "--out",
        str(tmp_path / "rep"),
        "--overlays",
        str(tmp_path / "ov"),
        "--cls",
        "soma",
        "--slices",
        "2,4",
        "--no-progress",
    )
    assert res.returncode == 0, res.stderr
    assert "| soma |" in res.stdout
    assert sorted(p.name for p in (tmp_path / "ov").iterdir()) == [
        "compare_z0002.png",
        "compare_z0004.png",
        "overlay_z0002.png",
        "overlay_z0004.png",
    ]
    assert (
        json.loads((tmp_path / "rep" / "metrics.json").read_text())["summary"]["slices_scored"] == 2
    )


def test_slice_ranges_take_a_step():
    from volseg.evaluate import parse_slices

    assert parse_slices("0-12:4", 13) == [0, 4, 8, 12]
    assert parse_slices("1,0-8:4,3", 10) == [0, 1, 3, 4, 8]
    with pytest.raises(InputError, match="0-60:4"):
        parse_slices("0-x", 10)
