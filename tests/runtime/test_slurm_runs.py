"""volseg segment, reconstruct and study crops through a real SLURM cluster
(``--scheduler slurm.yaml``): worker jobs are submitted with dask-jobqueue, the output is
bit-identical to a LocalCluster run's, and no job is left in ``squeue`` when the run ends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
import zarr
from slurm_local import (
    GONE_S,
    SHAPE,
    QueueWatch,
    assert_same_segmentation,
    segment_args,
    wait_for_jobs,
    write_config,
)

from volseg.testing import Fault, Faults, run_volseg, write_blob_dataset

pytestmark = pytest.mark.usefixtures("slurm")


def test_segment_through_slurm_is_bit_identical_to_a_local_run(
    slurm_inputs: tuple[Path, Path], slurm_reference: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "slurm.yaml", "vs-segment", jobs=2)
    with QueueWatch("vs-segment") as watch:
        res = run_volseg(*segment_args(slurm_inputs, tmp_path / "seg.zarr"), "--scheduler", config)
    assert res.returncode == 0, res.stderr
    assert watch.most_running == 2 and len(watch.seen) == 2  # the config's two jobs ran
    wait_for_jobs("vs-segment", lambda now: not now, GONE_S, "no job left")
    logs = sorted((tmp_path / "vs-segment-logs").glob("*.err"))
    assert len(logs) == 2  # one worker log per job: the workers were SLURM jobs
    assert_same_segmentation(tmp_path / "seg.zarr", slurm_reference)


def test_a_failed_run_leaves_no_job_behind(slurm_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "seg.zarr"
    faults = Faults(tmp_path / "faults")  # in the worker jobs too: sbatch exports the env
    faults.plan(out, Fault("enospc", "labels/segmentation/0/c/*", nth=None))
    config = write_config(tmp_path / "slurm.yaml", "vs-fail", jobs=1)
    with QueueWatch("vs-fail") as watch:
        res = run_volseg(*segment_args(slurm_inputs, out), "--scheduler", config, env=faults.env)
    assert res.returncode == 1, res.stderr
    assert f"{SHAPE[0]} block(s) failed" in res.stderr
    writes = faults.writes()
    assert len(writes) == SHAPE[0] and {w.action for w in writes} == {"enospc"}
    assert len(watch.seen) == 1
    wait_for_jobs("vs-fail", lambda now: not now, GONE_S, "no job left")


def test_a_missing_slurm_config_is_named_before_anything_is_submitted(
    slurm_inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    res = run_volseg(
        *segment_args(slurm_inputs, tmp_path / "o.zarr"), "--scheduler", tmp_path / "s.yml"
    )
    assert res.returncode == 2 and "s.yml does not exist" in res.stderr, res.stderr


def test_reconstruct_through_slurm_equals_a_local_run(
    slurm_reference: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "slurm.yaml", "vs-objects", jobs=2)
    common = ["--meshes", "--formats", "ply", "--skeletons", "none", "--no-progress", "--json"]

    def run(*where: object) -> dict[str, Any]:
        out = tmp_path / ("slurm" if "--scheduler" in where else "local")
        res = run_volseg("reconstruct", slurm_reference, "--out", out, *common, *where)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)

    local = run("--workers", "2")
    with QueueWatch("vs-objects") as watch:
        slurm = run("--scheduler", config)
    assert watch.most_running >= 1 and len(watch.seen) == 2
    wait_for_jobs("vs-objects", lambda now: not now, GONE_S, "no job left")
    assert slurm["objects"] == local["objects"] > 0
    ids = zarr.open_array(f"{slurm['labels']}/0", mode="r")[:]
    np.testing.assert_array_equal(ids, zarr.open_array(f"{local['labels']}/0", mode="r")[:])
    assert Path(slurm["table"]["csv"]).read_bytes() == Path(local["table"]["csv"]).read_bytes()
    meshes = sorted(Path(slurm["mesh_folder"]).glob("object_*.ply"))
    assert len(meshes) == local["meshes"] == slurm["meshes"]
    for mesh in meshes:
        assert mesh.read_bytes() == (Path(local["mesh_folder"]) / mesh.name).read_bytes()


@pytest.mark.usefixtures("cache_dir")
def test_study_crops_smoke_through_slurm(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    for part, n, seed in (("train", 4, 0), ("val", 2, 1), ("test", 2, 2)):
        write_blob_dataset(root / part, n, (96, 96), seed=seed)
    study = {
        **{
            k: str(root / d)
            for k, d in (("train", "train"), ("validation", "val"), ("test", "test"))
        },
        "out": str(tmp_path / "crops"),
        "sizes": [64],
        "counts": [4],
        "seeds": 2,
        "epochs": 1,
        "retries": 0,
        "recipe": {"model": "segnet-lite", "batch_size": 4, "classes": ["bg", "blob"]},
    }
    (tmp_path / "crops.yaml").write_text(yaml.safe_dump(study))
    config = write_config(tmp_path / "slurm.yaml", "vs-study", jobs=2)
    with QueueWatch("vs-study") as watch:
        res = run_volseg(
            "study", "crops", tmp_path / "crops.yaml", "--scheduler", config, "--no-progress",
            "--json",
        )  # fmt: skip
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout)
    assert s["ok"] is True and s["runs"] == s["finished"] == s["executed"]["done"] == 2
    assert all(0 <= r["test_accuracy"] <= 1 for r in s["results"])
    assert len(watch.seen) == 2
    wait_for_jobs("vs-study", lambda now: not now, GONE_S, "no job left")
