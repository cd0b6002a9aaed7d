from __future__ import annotations

import functools
import io
import json
import os
import pickle
import re
import stat
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sklearn
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import volseg
from volseg.classify import (
    CLASSIFIER_FORMAT,
    ObjectClassifier,
    fit_classifier,
    load_classifier,
    save_classifier,
)
from volseg.classify._file import ALLOWED, _collect_types
from volseg.classify._model import content_sha256
from volseg.errors import ClassifierError, InputNotFoundError

FEATURES = ("elongation", "volume_um3")
CLASSES = ("soma", "vessel")
META = {"voxel_size": [0.65, 0.65, 0.65], "training_data_sha256": "ab" * 32}
HEADER, ESTIMATOR = "volseg_classifier.json", "estimator.skops"


def objects(n: int, seed: int, ranges: tuple[tuple[float, float], ...] = ((1, 2), (4, 10))):
    """Objects of ``len(ranges)`` classes in turn: blobs (elongation 1-2) vs tubes (4-10);
    volume and intensity carry no class information. Columns not in FEATURES order."""
    rng = np.random.default_rng(seed)
    label = np.arange(n) % len(ranges)
    low, high = np.array(ranges).T
    table = pd.DataFrame(
        {
            "mean_intensity": rng.normal(size=n),
            "volume_um3": rng.lognormal(6, 1, n),
            "elongation": rng.uniform(low[label], high[label]),
        }
    )
    return table, label


@pytest.fixture(scope="module")
def trained() -> ObjectClassifier:
    table, label = objects(40, seed=1)
    return fit_classifier(table, label, features=FEATURES, classes=CLASSES, metadata=META, seed=3)


@pytest.fixture(scope="module")
def saved(trained, tmp_path_factory) -> Path:
    return save_classifier(trained, tmp_path_factory.mktemp("clf") / "sub" / "classifier.vsclf")


def rewrite(src: Path, dst: Path, change: Callable[[dict[str, Any], dict[str, bytes]], None]):
    """Copy the classifier zip ``src`` to ``dst`` after ``change(header, members)``; the JSON
    member is written from ``header`` unless ``change`` replaced or deleted it."""
    with zipfile.ZipFile(src) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    header = json.loads(members[HEADER])
    members[HEADER] = b""
    change(header, members)
    if members.get(HEADER) == b"":
        members[HEADER] = json.dumps(header).encode()
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return dst


def with_header(**fields: Any) -> Callable[[dict[str, Any], dict[str, bytes]], None]:
    return lambda header, members: header.update(fields)


def with_forged_header(**fields: Any) -> Callable[[dict[str, Any], dict[str, bytes]], None]:
    """Edit the header and record the matching content sha256, as a forger would."""

    def change(header: dict[str, Any], members: dict[str, bytes]) -> None:
        header.update(fields)
        header["sha256"] = content_sha256(
            members[ESTIMATOR], header["features"], header["classes"], header["metadata"]
        )

    return change


def with_estimator(raw: bytes) -> Callable[[dict[str, Any], dict[str, bytes]], None]:
    """Replace the estimator member and record its true sha256, as a forger would."""

    def change(header: dict[str, Any], members: dict[str, bytes]) -> None:
        members[ESTIMATOR] = raw
        header["sha256"] = content_sha256(
            raw, header["features"], header["classes"], header["metadata"]
        )

    return change


def test_predicts_held_out_objects_by_elongation(trained):
    table, truth = objects(200, seed=2)
    index, probability = trained.predict(table)
    assert (index.dtype, probability.dtype) == (np.int64, np.float64)
    np.testing.assert_array_equal(index, truth)
    assert probability.min() > 0.9
    proba = trained.probabilities(table)
    np.testing.assert_array_equal(probability, proba[np.arange(200), truth])


def test_probabilities_read_the_feature_columns_by_name(trained):
    table, _ = objects(50, seed=4)
    proba = trained.probabilities(table)
    assert proba.shape == (50, 2) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    with threadpool_limits(limits=1, user_api="openmp"):  # OpenMP stalls on a busy machine
        expected = trained.estimator.predict_proba(table[list(FEATURES)].to_numpy())
    np.testing.assert_array_equal(proba, expected)
    reordered = table[["elongation", "mean_intensity", "volume_um3"]]
    np.testing.assert_array_equal(trained.probabilities(reordered), expected)


def test_an_empty_table_gives_zero_rows(trained):
    table, _ = objects(10, seed=5)
    proba = trained.probabilities(table.iloc[:0])
    assert proba.shape == (0, 2) and proba.dtype == np.float64
    index, probability = trained.predict(table.iloc[:0])
    assert (index.shape, index.dtype, probability.shape) == ((0,), np.int64, (0,))


def test_missing_or_non_finite_feature_at_prediction_is_named(trained):
    table, _ = objects(10, seed=6)
    with pytest.raises(ClassifierError, match=r"lacks column\(s\) \['elongation'\]"):
        trained.probabilities(table.drop(columns="elongation"))
    table.loc[3, "volume_um3"] = np.nan
    with pytest.raises(ClassifierError, match=r"\['volume_um3'\] hold NaN"):
        trained.predict(table)


def test_fit_records_metadata_hash_and_recipe(trained):
    meta = trained.metadata
    assert {k: meta[k] for k in META} == META
    assert meta["volseg_version"] == volseg.__version__
    assert meta["sklearn_version"] == sklearn.__version__
    assert meta["n_train"] == {"soma": 20, "vessel": 20}
    assert meta["format"] == CLASSIFIER_FORMAT == 1
    created = datetime.fromisoformat(meta["created"])
    assert created.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=5)
    assert trained.sha256 == content_sha256(
        trained.estimator_bytes, FEATURES, CLASSES, trained.metadata
    )
    assert (trained.features, trained.classes, trained.path) == (FEATURES, CLASSES, None)
    params = trained.estimator.get_params()
    assert {k: params[k] for k in ("class_weight", "max_iter", "early_stopping")} == {
        "class_weight": "balanced",
        "max_iter": 200,
        "early_stopping": False,
    }
    assert (params["random_state"], params["min_samples_leaf"]) == (3, 4)
    np.testing.assert_array_equal(trained.estimator.classes_, [0, 1])


@pytest.mark.parametrize(("n", "leaf"), [(12, 2), (400, 20)])
def test_min_samples_leaf_follows_the_training_size(n, leaf):
    table, label = objects(n, seed=7)
    clf = fit_classifier(table, label, features=FEATURES, classes=CLASSES)
    assert clf.estimator.min_samples_leaf == leaf


def test_round_trip_gives_identical_probabilities(trained, saved):
    loaded = load_classifier(saved)
    assert loaded.path == saved
    assert (loaded.features, loaded.classes) == (FEATURES, CLASSES)
    assert (loaded.metadata, loaded.sha256) == (trained.metadata, trained.sha256)
    assert loaded.estimator_bytes == trained.estimator_bytes
    table, _ = objects(100, seed=8)
    np.testing.assert_array_equal(loaded.probabilities(table), trained.probabilities(table))
    assert list(saved.parent.iterdir()) == [saved]  # no temporary file left behind


def test_three_classes_round_trip(tmp_path):
    ranges = ((1, 2), (4, 6), (8, 12))
    table, label = objects(30, seed=9, ranges=ranges)
    classes = ("soma", "vessel", "fibre")
    clf = fit_classifier(table, label, features=FEATURES, classes=classes)
    loaded = load_classifier(save_classifier(clf, tmp_path / "three.vsclf"))
    held_out, truth = objects(90, seed=10, ranges=ranges)
    np.testing.assert_array_equal(loaded.predict(held_out)[0], truth)
    np.testing.assert_array_equal(loaded.probabilities(held_out), clf.probabilities(held_out))
    assert loaded.metadata["n_train"] == {"soma": 10, "vessel": 10, "fibre": 10}


def test_file_is_a_zip_of_json_and_skops_loaded_without_pickle(trained, saved, monkeypatch):
    with zipfile.ZipFile(saved) as zf:
        assert zf.namelist() == [HEADER, ESTIMATOR]
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}
        header = json.loads(zf.read(HEADER))
        raw = zf.read(ESTIMATOR)
    assert header == {
        "format": 1,
        "features": list(FEATURES),
        "classes": list(CLASSES),
        "metadata": trained.metadata,
        "sha256": content_sha256(raw, FEATURES, CLASSES, trained.metadata),
    }

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pickle used while loading a classifier")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    assert load_classifier(saved).sha256 == trained.sha256


def test_saving_twice_writes_the_same_bytes(trained, saved, tmp_path):
    again = save_classifier(trained, tmp_path / "again.vsclf")
    assert again.read_bytes() == saved.read_bytes()


def test_altered_estimator_is_refused(trained, saved, tmp_path):
    raw = bytearray(trained.estimator_bytes)
    raw[len(raw) // 2] ^= 0x01

    def flip(header: dict[str, Any], members: dict[str, bytes]) -> None:
        members[ESTIMATOR] = bytes(raw)

    path = rewrite(saved, tmp_path / "flipped.vsclf", flip)
    with pytest.raises(ClassifierError, match=f"was altered: .*records {trained.sha256}"):
        load_classifier(path)


def test_edited_recorded_hash_is_refused(saved, tmp_path):
    path = rewrite(saved, tmp_path / "edited.vsclf", with_header(sha256="0" * 64))
    with pytest.raises(ClassifierError, match=r"was altered: .*records 0000"):
        load_classifier(path)


@pytest.mark.parametrize(
    "edit",
    [
        {"classes": ["vessel", "soma"]},  # would invert every prediction
        {"features": list(reversed(FEATURES))},
        {"metadata": {"voxel_size": [2.0, 2.0, 2.0]}},
    ],
)
def test_edited_header_is_refused(trained, saved, tmp_path, edit):
    path = rewrite(saved, tmp_path / "edited.vsclf", with_header(**edit))
    with pytest.raises(ClassifierError, match=f"was altered: .*records {trained.sha256}"):
        load_classifier(path)


def test_expected_sha256_is_enforced(trained, saved):
    with pytest.raises(ClassifierError, match=f"{'1' * 64} was expected"):
        load_classifier(saved, expected_sha256="1" * 64)
    loaded = load_classifier(saved, expected_sha256=f" {trained.sha256.upper()} ")
    assert loaded.sha256 == trained.sha256


def _logistic() -> Any:
    table, label = objects(20, seed=11)
    return LogisticRegression().fit(table[list(FEATURES)].to_numpy(), label)


def _pipeline() -> Any:
    table, label = objects(20, seed=12)
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(
        table[list(FEATURES)].to_numpy(), label
    )


@pytest.mark.parametrize(
    ("make", "named"),
    [(_logistic, "LogisticRegression"), (_pipeline, "sklearn.pipeline.Pipeline")],
)
def test_estimator_types_off_the_allow_list_are_refused(saved, tmp_path, make, named):
    raw = sio.dumps(make())
    assert sio.get_untrusted_types(data=raw) == []  # skops alone would load it
    path = rewrite(saved, tmp_path / "other.vsclf", with_estimator(raw))
    with pytest.raises(ClassifierError, match=f"not on volseg's allow-list: .*{named}"):
        load_classifier(path)


def _disguised_function(estimator: Any) -> bytes:
    """A function reference relabelled with an allowed type name: only its node kind shows."""
    raw = sio.dumps({"estimator": estimator, "hook": json.dumps})
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    schema = json.loads(members["schema.json"])
    schema["content"]["hook"].update({"__class__": "str", "__module__": "builtins"})
    members["schema.json"] = json.dumps(schema).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("hook", "named"),
    [
        (os.getcwd, "'posix.getcwd'"),
        (json.dumps, "'json.dumps', 'skops loader FunctionNode'"),
        (
            functools.partial(print, "hi"),
            "'builtins.print', 'functools.partial', 'skops loader PartialNode'",
        ),
        (None, "'skops loader FunctionNode'"),
    ],
)
def test_code_references_are_refused(trained, saved, tmp_path, hook, named):
    if hook is None:
        raw = _disguised_function(trained.estimator)
    else:
        raw = sio.dumps({"estimator": trained.estimator, "hook": hook})
    path = rewrite(saved, tmp_path / "hook.vsclf", with_estimator(raw))
    with pytest.raises(ClassifierError, match=re.escape(f"allow-list: [{named}]")):
        load_classifier(path)


def test_allow_list_is_exactly_the_types_of_binary_and_multiclass_estimators(trained):
    table, label = objects(30, seed=14, ranges=((1, 2), (4, 6), (8, 12)))
    three = fit_classifier(table, label, features=FEATURES, classes=("a", "b", "c"))
    found: set[str] = set()
    for raw in (trained.estimator_bytes, three.estimator_bytes):
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            _collect_types(json.loads(zf.read("schema.json")), found)
        assert set(sio.get_untrusted_types(data=raw)) <= set(ALLOWED)
    assert found == set(ALLOWED)
    assert {t.split(".")[0] for t in ALLOWED} == {"builtins", "numpy", "sklearn"}


@pytest.mark.parametrize("content", [b"not a zip file", "half"])
def test_a_file_that_is_not_a_zip_is_refused(saved, tmp_path, content):
    data = saved.read_bytes()[: saved.stat().st_size // 2] if content == "half" else content
    path = tmp_path / "broken.vsclf"
    path.write_bytes(data)
    with pytest.raises(ClassifierError, match="is not a readable volseg classifier"):
        load_classifier(path)


def test_a_missing_file_is_an_input_not_found_error(tmp_path):
    with pytest.raises(InputNotFoundError, match=r"nothing\.vsclf does not exist") as info:
        load_classifier(tmp_path / "nothing.vsclf")
    assert isinstance(info.value, FileNotFoundError)


def _drop_estimator(header: dict[str, Any], members: dict[str, bytes]) -> None:
    del members[ESTIMATOR]


def _bad_json(header: dict[str, Any], members: dict[str, bytes]) -> None:
    members[HEADER] = b"{format: 1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_drop_estimator, r"not a volseg classifier: it lacks \['estimator.skops'\]"),
        (_bad_json, "invalid volseg_classifier.json"),
        (with_header(format=2), "format 2; this volseg reads format 1"),
        (with_header(format=True), "format True"),
        (with_header(features="elongation"), "features must be a non-empty list"),
        (with_header(classes=["soma", 1]), "classes must be a non-empty list"),
        (with_header(metadata=[]), "no metadata object"),
        (with_forged_header(features=["a", "b", "c"]), "its estimator reads 2 features"),
        (with_forged_header(classes=["a", "b", "c"]), r"has classes \[0 1\]"),
    ],
)
def test_malformed_files_are_refused(saved, tmp_path, change, message):
    path = rewrite(saved, tmp_path / "bad.vsclf", change)
    with pytest.raises(ClassifierError, match=message):
        load_classifier(path)


def test_check_compatible(trained):
    trained.check_compatible(features=["extra", *reversed(FEATURES)], classes=list(CLASSES))
    with pytest.raises(ClassifierError, match=r"feature\(s\) \['volume_um3'\] that are not"):
        trained.check_compatible(features=["elongation"], classes=CLASSES)
    for other in (("soma", "vessel", "fibre"), ("vessel", "soma")):
        wanted = re.escape(f"classes {list(CLASSES)} but {list(other)} are wanted")
        with pytest.raises(ClassifierError, match=f"{wanted}.*`volseg classify train`"):
            trained.check_compatible(features=FEATURES, classes=other)


def test_classifier_whose_hash_is_not_of_its_bytes_is_refused(trained):
    with pytest.raises(ClassifierError, match="not the sha256 of its estimator_bytes and header"):
        ObjectClassifier(trained.estimator, FEATURES, CLASSES, {}, "0" * 64)


def _nan(table: pd.DataFrame, label: np.ndarray) -> dict[str, Any]:
    table.loc[2, "elongation"] = np.nan
    return {}


def _inf(table: pd.DataFrame, label: np.ndarray) -> dict[str, Any]:
    table.loc[5, "volume_um3"] = np.inf
    return {}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t, y: y.fill(0) or {}, "no vessel objects among the 12 training objects"),
        (_nan, r"\['elongation'\] hold NaN"),
        (_inf, r"\['volume_um3'\] hold NaN or infinite"),
        (lambda t, y: {"labels": y[:3], "table": t.iloc[:3]}, "only 3 training objects"),
        (lambda t, y: {"labels": y[:-1]}, "12 rows but labels have shape"),
        (lambda t, y: {"labels": y * 2}, r"indices 0\.\.1 .* values \[0, 2\]"),
        (lambda t, y: {"labels": y.astype(float)}, "integer class indices"),
        (lambda t, y: {"classes": ["soma"]}, "at least 2 classes"),
        (lambda t, y: {"features": ["elongation", "length"]}, r"lacks column\(s\) \['length'\]"),
        (lambda t, y: {"metadata": {"voxel": np.float32(1)}}, "plain JSON types"),
    ],
)
def test_fit_refuses_unusable_training_data(change, message):
    table, label = objects(12, seed=13)
    arguments: dict[str, Any] = {"table": table, "labels": label}
    arguments |= {"features": FEATURES, "classes": CLASSES}
    arguments |= change(table, label)
    with pytest.raises(ClassifierError, match=message):
        fit_classifier(**arguments)


def test_saved_file_is_readable_by_others_as_umask_allows(saved):
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o666 & ~umask
