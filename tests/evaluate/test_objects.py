"""Object-level matching: overlaps streamed over z-slabs equal a whole-array reference, and
matching at an IoU threshold gives the hand-counted tp/fp/fn on small built volumes."""

from __future__ import annotations

import math

import dask.array as da
import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

from volseg.errors import ConfigError, InputError
from volseg.evaluate import (
    ObjectMatch,
    Overlaps,
    _overlaps,
    instance_labels,
    match_objects,
    object_overlaps,
)

AWKWARD = (37, 23, 19)


def reference(pred: np.ndarray, gt: np.ndarray) -> dict[str, np.ndarray]:
    """Whole-array overlaps: unique (pred, gt) rows of the voxels where both are objects."""
    both = (pred > 0) & (gt > 0)
    rows = np.stack([pred[both], gt[both]], axis=1).astype(np.int64).reshape(-1, 2)
    pairs, counts = np.unique(rows, axis=0, return_counts=True)
    p_ids, p_n = np.unique(pred[pred > 0], return_counts=True)
    g_ids, g_n = np.unique(gt[gt > 0], return_counts=True)
    return {
        "pairs": pairs.reshape(-1, 2),
        "counts": counts,
        "pred_ids": p_ids,
        "pred_sizes": p_n,
        "gt_ids": g_ids,
        "gt_sizes": g_n,
    }


def assert_equals_reference(ov: Overlaps, pred: np.ndarray, gt: np.ndarray) -> None:
    for name, want in reference(pred, gt).items():
        got = getattr(ov, name)
        assert got.dtype == np.int64, name
        np.testing.assert_array_equal(got, want, err_msg=name)


def blobs(seed: int, shape: tuple[int, ...], n_ids: int, offset: int = 0) -> np.ndarray:
    """Random instance labels: ids 1..n_ids (plus ``offset``) on ~70% of the voxels, in
    runs along x so that objects span slabs and overlap several others."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, n_ids + 1, size=(*shape[:-1], shape[-1] // 3 + 1))
    ids[rng.random(ids.shape) < 0.3] = 0
    out = np.repeat(ids, 3, axis=-1)[..., : shape[-1]].astype(np.int64)
    return np.where(out > 0, out + offset, 0)


def match(pred: np.ndarray, gt: np.ndarray, **kw) -> ObjectMatch:
    return match_objects(object_overlaps(pred, gt), **kw)


def counts(m: ObjectMatch) -> tuple[int, int, int]:
    return m.tp, m.fp, m.fn


def matched(m: ObjectMatch) -> list[tuple[int, int, float]]:
    return [(int(p), int(g), float(i)) for p, g, i in m.pairs.itertuples(index=False)]


# --- overlaps -----------------------------------------------------------------------------


@pytest.mark.parametrize("slab", [1, 5, 16, 37, 100])
def test_slab_streaming_equals_whole_array_on_awkward_shape(slab):
    pred = blobs(1, AWKWARD, 9)
    gt = blobs(2, AWKWARD, 7)
    assert_equals_reference(object_overlaps(pred, gt, slab=slab), pred, gt)


@pytest.fixture
def pred_reads(monkeypatch) -> list[tuple[int, int]]:
    """The z ranges of the prediction that object_overlaps reads, in order."""
    reads: list[tuple[int, int]] = []
    real = _overlaps._slab_labels

    def spy(a, z0, z1, name):
        if name == "pred":
            reads.append((z0, z1))
        return real(a, z0, z1, name)

    monkeypatch.setattr(_overlaps, "_slab_labels", spy)
    return reads


def slabs(depth: int, n: int = AWKWARD[0]) -> list[tuple[int, int]]:
    return [(z, min(z + depth, n)) for z in range(0, n, depth)]


def test_zarr_inputs_stream_by_their_chunk_depth(tmp_path, pred_reads):
    pred = blobs(3, AWKWARD, 12).astype(np.uint32)
    gt = blobs(4, AWKWARD, 5).astype(np.uint16)
    arrays = []
    for name, data in (("pred", pred), ("gt", gt)):
        z = zarr.create_array(
            str(tmp_path / f"{name}.zarr"), shape=data.shape, chunks=(4, 10, 10), dtype=data.dtype
        )
        z[:] = data
        arrays.append(z)
    ov = object_overlaps(*arrays)
    assert pred_reads == slabs(4)
    assert_equals_reference(ov, pred, gt)


def test_dask_inputs_stream_by_their_chunk_depth_and_numpy_by_16(pred_reads):
    pred = blobs(5, AWKWARD, 6)
    gt = blobs(6, AWKWARD, 6)
    ov = object_overlaps(da.from_array(pred, chunks=(6, 23, 19)), gt, progress=True)
    assert pred_reads == slabs(6)
    assert_equals_reference(ov, pred, gt)
    pred_reads.clear()
    object_overlaps(pred, gt)
    assert pred_reads == slabs(16)


def test_ids_too_large_to_combine_use_the_two_column_path():
    big = 2**40
    pred = blobs(7, AWKWARD, 8, offset=big)
    gt = blobs(8, AWKWARD, 8, offset=big).astype(np.uint64)
    ov = object_overlaps(pred, gt, slab=5)
    assert ov.pairs.min() > big
    assert_equals_reference(ov, pred, gt)


def test_partial_sums_merged_midway_equal_a_single_merge(monkeypatch):
    monkeypatch.setattr(_overlaps, "_MERGE_AT", 3)
    pred = blobs(9, AWKWARD, 10)
    gt = blobs(10, AWKWARD, 10)
    assert_equals_reference(object_overlaps(pred, gt, slab=2), pred, gt)


def test_sizes_look_up_whole_objects_and_absent_ids_have_size_zero():
    pred = np.zeros((2, 3, 4), np.uint8)
    pred[0, 0, :3] = 4
    pred[1] = 9
    gt = np.zeros_like(pred)
    gt[:, 0, 0] = 2
    ov = object_overlaps(pred, gt, slab=1)
    assert ov.pairs.tolist() == [[4, 2], [9, 2]]
    assert ov.counts.tolist() == [1, 1]
    assert ov.pred_size([9, 4, 0, 5, 100]).tolist() == [12, 3, 0, 0, 0]
    assert ov.gt_size(2).tolist() == 2
    assert not ov.pairs.flags.writeable and not ov.pred_sizes.flags.writeable


def test_empty_volumes_have_no_pairs_and_no_objects():
    ov = object_overlaps(np.zeros((3, 2, 2), np.int32), np.zeros((3, 2, 2), np.int32))
    assert ov.pairs.shape == (0, 2) and ov.counts.shape == (0,)
    assert ov.pred_ids.size == ov.gt_ids.size == 0
    assert ov.gt_size([1]).tolist() == [0]


@settings(max_examples=60, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 7), st.integers(1, 6), st.integers(1, 6)),
    seeds=st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
    n_ids=st.integers(1, 6),
    slab=st.integers(1, 8),
)
def test_overlap_counts_add_up_to_the_voxels_where_both_are_objects(shape, seeds, n_ids, slab):
    pred = blobs(seeds[0], shape, n_ids)
    gt = blobs(seeds[1], shape, n_ids)
    ov = object_overlaps(pred, gt, slab=slab)
    assert ov.counts.sum() == np.count_nonzero((pred > 0) & (gt > 0))
    assert ov.pred_sizes.sum() == np.count_nonzero(pred)
    assert ov.gt_sizes.sum() == np.count_nonzero(gt)
    assert_equals_reference(ov, pred, gt)


def test_mismatched_shapes_raise_input_error_naming_both():
    with pytest.raises(InputError, match=r"pred \(2, 3, 4\) vs gt \(2, 3, 5\)"):
        object_overlaps(np.zeros((2, 3, 4), np.uint8), np.zeros((2, 3, 5), np.uint8))


@pytest.mark.parametrize(
    ("pred", "message"),
    [
        (np.zeros((2, 3), np.uint8), "must be \\(z, y, x\\), got 2D"),
        (np.zeros((2, 3, 3), np.float32), "integer instance ids, got dtype float32"),
        (np.full((2, 3, 3), -1, np.int16), "negative id -1"),
        (np.full((2, 3, 3), 2**63, np.uint64), f"id {2**63} in slices 0:2"),
    ],
)
def test_unusable_labels_raise_input_error(pred, message):
    with pytest.raises(InputError, match=message):
        object_overlaps(pred, np.zeros(pred.shape, np.uint8))


@pytest.mark.parametrize("slab", [0, -2, 1.5, True])
def test_bad_slab_raises_config_error(slab):
    a = np.zeros((2, 2, 2), np.uint8)
    with pytest.raises(ConfigError, match="slab must be a positive"):
        object_overlaps(a, a, slab=slab)


# --- matching -----------------------------------------------------------------------------


def two_objects() -> np.ndarray:
    gt = np.zeros((3, 6, 10), np.uint16)
    gt[:, :2, :4] = 1  # 24 voxels
    gt[1:, 3:, 5:] = 2  # 30 voxels
    return gt


def test_perfect_match_with_other_ids_scores_one():
    gt = two_objects()
    pred = np.select([gt == 1, gt == 2], [70, 30], 0).astype(np.int32)
    m = match(pred, gt)
    assert counts(m) == (2, 0, 0)
    assert (m.precision, m.recall, m.f1) == (1.0, 1.0, 1.0)
    assert matched(m) == [(70, 1, 1.0), (30, 2, 1.0)]
    assert list(m.pairs.columns) == ["pred_id", "gt_id", "iou"]
    assert m.pairs.dtypes.tolist() == [np.int64, np.int64, np.float64]
    assert m.iou_threshold == 0.5


def test_object_split_in_two_matches_at_most_one_part():
    gt = np.zeros((1, 4, 10), np.uint8)
    gt[0, :, :] = 1  # 40 voxels
    pred = np.zeros_like(gt)
    pred[0, :, :6] = 1  # IoU 24/40
    pred[0, :, 6:] = 2  # IoU 16/40
    m = match(pred, gt)
    assert counts(m) == (1, 1, 0)
    assert matched(m) == [(1, 1, 0.6)]
    assert (m.precision, m.recall) == (0.5, 1.0)
    assert m.f1 == pytest.approx(2 / 3)


def test_two_objects_merged_into_one_match_the_larger():
    gt = np.zeros((1, 4, 10), np.uint8)
    gt[0, :, :] = 1
    gt[0, :, 7:] = 2  # gt 1: 28 voxels, gt 2: 12 voxels
    pred = np.full_like(gt, 3)  # one pred over both
    m = match(pred, gt)
    assert counts(m) == (1, 0, 1)
    assert matched(m) == [(3, 1, 0.7)]
    assert (m.precision, m.recall) == (1.0, 0.5)


def test_false_and_missed_objects_count_as_fp_and_fn():
    gt = two_objects()
    pred = np.where(gt == 1, 1, 0).astype(np.uint8)  # gt 2 missed
    pred[0, 4:, 8:] = 2  # a false object where gt is background
    m = match(pred, gt)
    assert counts(m) == (1, 1, 1)
    assert (m.precision, m.recall, m.f1) == (0.5, 0.5, 0.5)
    assert matched(m) == [(1, 1, 1.0)]


def test_threshold_edge_iou_exactly_half_matches():
    gt = np.zeros((1, 2, 8), np.uint8)
    gt[0, :, :4] = 1  # 8 voxels
    pred = np.zeros_like(gt)
    pred[0, :, 2:6] = 1  # common 4, union 12 -> 1/3
    pred[0, 0, 0:2] = 1  # common 6, size 10, union 12 -> 1/2
    ov = object_overlaps(pred, gt)
    assert matched(match_objects(ov, iou_threshold=0.5)) == [(1, 1, 0.5)]
    assert match_objects(ov, iou_threshold=np.nextafter(0.5, 1)).tp == 0


def test_one_third_threshold_matches_an_iou_of_exactly_one_third():
    gt = np.zeros((1, 1, 6), np.uint8)
    gt[0, 0, :4] = 1
    pred = np.zeros_like(gt)
    pred[0, 0, 2:6] = 1  # common 2, union 6
    assert match(pred, gt, iou_threshold=1 / 3).tp == 1
    assert match(pred, gt, iou_threshold=np.nextafter(1 / 3, 1)).tp == 0


def test_exact_halves_at_threshold_half_match_once_the_smaller_pred_id():
    gt = np.ones((1, 2, 8), np.uint8)
    pred = np.zeros_like(gt)
    pred[0, :, 4:] = 5
    pred[0, :, :4] = 8  # both halves have IoU exactly 0.5
    m = match(pred, gt)
    assert counts(m) == (1, 1, 0)
    assert matched(m) == [(5, 1, 0.5)]


def test_low_threshold_resolves_conflicts_greedily_by_descending_iou():
    gt = np.zeros((1, 1, 20), np.uint8)
    gt[0, 0, :10] = 1
    gt[0, 0, 10:16] = 2
    pred = np.zeros_like(gt)
    pred[0, 0, :6] = 1  # IoU 0.6 with gt 1
    pred[0, 0, 6:14] = 2  # IoU 4/14 with gt 1, 4/10 with gt 2
    pred[0, 0, 14:20] = 3  # IoU 2/10 with gt 2
    m = match(pred, gt, iou_threshold=0.2)
    # greedy: (1, 1) 0.6, then (2, 2) 0.4; (2, 1) and (3, 2) conflict
    assert matched(m) == [(1, 1, 0.6), (2, 2, 0.4)]
    assert counts(m) == (2, 1, 0)
    assert match(pred, gt, iou_threshold=0.5).tp == 1


def test_subsets_restrict_the_objects_scored_while_iou_uses_whole_objects():
    # gt: somas 1 and 2, a vessel 3; pred 10 overlaps soma 1, pred 11 is soma 2 but was
    # classified vessel, pred 12 is the vessel but was classified soma
    gt = np.zeros((2, 4, 20), np.uint8)
    gt[:, :, 0:4] = 1
    gt[:, :, 6:10] = 2
    gt[:, :, 12:20] = 3
    pred = np.zeros_like(gt)
    pred[:, :, 0:5] = 10  # 40 voxels, 32 in common with soma 1 -> IoU 0.8
    pred[:, :, 5] = 10  # whole pred 10 is 48 voxels: IoU 32 / 48
    pred[:, :, 6:10] = 11
    pred[:, :, 12:20] = 12
    ov = object_overlaps(pred, gt)
    m = match_objects(ov, pred_ids=[10, 12], gt_ids=[1, 2])
    assert counts(m) == (1, 1, 1)
    assert matched(m) == [(10, 1, 32 / 48)]
    everything = match_objects(ov)
    assert counts(everything) == (3, 0, 0)
    assert matched(everything)[0] == (10, 1, 32 / 48)


def test_subset_ids_absent_from_the_volume_are_ignored():
    gt = two_objects()
    pred = gt.astype(np.int64)
    ov = object_overlaps(pred, gt)
    m = match_objects(ov, pred_ids=np.array([1, 0, 99, 1], np.uint64), gt_ids=[2, 1, 7])
    assert counts(m) == (1, 0, 1)
    m = match_objects(ov, pred_ids=[], gt_ids=[2])
    assert counts(m) == (0, 0, 1)
    with pytest.raises(InputError, match="pred_ids must be integer object ids"):
        match_objects(ov, pred_ids=[1.0])


def test_nan_conventions_when_a_side_has_no_objects():
    gt = two_objects()
    empty = np.zeros_like(gt)
    nothing = match(empty, empty)
    assert counts(nothing) == (0, 0, 0)
    assert all(math.isnan(v) for v in (nothing.precision, nothing.recall, nothing.f1))
    assert nothing.pairs.empty

    missed = match(empty, gt)
    assert counts(missed) == (0, 0, 2)
    assert math.isnan(missed.precision)
    assert (missed.recall, missed.f1) == (0.0, 0.0)

    false = match(gt, empty)
    assert counts(false) == (0, 2, 0)
    assert math.isnan(false.recall)
    assert (false.precision, false.f1) == (0.0, 0.0)


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.0000001, 2, math.nan])
def test_bad_iou_threshold_raises_config_error(threshold):
    ov = object_overlaps(two_objects(), two_objects())
    with pytest.raises(ConfigError, match=r"iou_threshold must lie in \(0, 1\]"):
        match_objects(ov, iou_threshold=threshold)


def test_threshold_one_matches_only_identical_objects():
    gt = two_objects()
    pred = gt.copy()
    pred[0, 0, 0] = 0  # object 1 loses a voxel
    m = match(pred, gt, iou_threshold=1.0)
    assert matched(m) == [(2, 2, 1.0)]


# --- instance labels ----------------------------------------------------------------------


def test_instance_labels_follow_the_connectivity():
    labels = np.zeros((2, 3, 3), np.uint8)
    labels[0, 0, 0] = 1
    labels[1, 1, 1] = 1  # corner neighbour of (0, 0, 0)
    labels[0, 1, 0] = 1  # face neighbour of (0, 0, 0)
    labels[0, 2, 2] = 2  # another class
    six = instance_labels(labels, 1, connectivity=6)
    assert six.dtype == np.int32
    assert six[labels == 1].tolist() == [1, 1, 2]
    assert instance_labels(labels, 1)[labels == 1].tolist() == [1, 1, 1]
    assert instance_labels(labels, 2)[0, 2, 2] == 1
    assert np.count_nonzero(instance_labels(labels, 2)) == 1


def test_instance_labels_reject_bad_connectivity_and_2d_input():
    with pytest.raises(ConfigError, match="connectivity must be 6"):
        instance_labels(np.zeros((2, 2, 2), np.uint8), 1, connectivity=8)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="must be \\(z, y, x\\)"):
        instance_labels(np.zeros((2, 2), np.uint8), 1)
