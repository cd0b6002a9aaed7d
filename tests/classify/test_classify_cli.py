"""``volseg classify train`` and ``volseg classify`` in a fresh process, as a user runs them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from volseg.io import VolumeStore
from volseg.phantom import PhantomConfig, generate_phantom
from volseg.testing import run_volseg


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "phantom.zarr"
    config = PhantomConfig(
        shape=(16, 256, 256),
        seed=4,
        vessel_density=150,
        soma_fraction=0.08,
        soma_median_diameter=16.0,
    )
    generate_phantom(path, config, chunks=(8, 128, 128), levels=2, progress=False)
    return path


def test_train_then_classify_from_the_command_line(phantom: Path, tmp_path: Path):
    clf = tmp_path / "clf.vsclf"
    common = ["--labels", "ground_truth", "--workers", "1", "--no-progress"]
    res = run_volseg(
        "classify",
        "train",
        phantom,
        "--truth",
        phantom,
        "--slices",
        "0-15:5",
        "--out",
        clf,
        *common,
    )
    assert res.returncode == 0, res.stderr
    assert "classifier trained on" in res.stdout and clf.is_file()
    training = pd.read_csv(f"{clf}.csv")
    assert (training["label"] >= 0).sum() > 0
    out = tmp_path / "classified"
    res = run_volseg("classify", phantom, "--classifier", clf, "--out", out, *common)
    assert res.returncode == 0, res.stderr
    table = pd.read_parquet(out / "objects.parquet")
    assert f"{len(table)} objects" in res.stdout
    assert set(table["class"]) <= {"soma", "vessel"} and len(table) > 5
    store = VolumeStore.open(out / "classified.zarr")
    assert store.complete and store.levels == 2  # the pyramid has the classes too
    coarse = np.asarray(store.labels("classified", 1)[:])
    assert coarse.shape == (8, 128, 128) and set(np.unique(coarse)) <= {0, 1, 2}
    assert coarse.any()
    # again without --overwrite: refused with the fix named, nothing replaced
    again = run_volseg("classify", phantom, "--classifier", clf, "--out", out, *common)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert "Traceback" not in again.stderr
    assert pd.read_parquet(out / "objects.parquet").equals(table)


def test_bad_input_is_one_line_without_traceback(phantom: Path, tmp_path: Path):
    res = run_volseg(
        "classify",
        phantom,
        "--classifier",
        tmp_path / "missing.vsclf",
        "--out",
        tmp_path / "o",
        "--no-progress",
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "missing.vsclf" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
    res = run_volseg(
        "classify",
        "train",
        phantom,
        "--truth",
        phantom,
        "--labels",
        "ground_truth",
        "--slices",
        "0-99",
        "--out",
        tmp_path / "c.vsclf",
        "--no-progress",
    )
    assert res.returncode == 2 and "outside the volume" in res.stderr
