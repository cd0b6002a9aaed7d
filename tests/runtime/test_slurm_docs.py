"""docs/deployment.md's SLURM walkthrough runs as written on a real SLURM cluster (its
config, its command, what squeue shows, its resume), and its GPU config gives one worker
per GPU."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from slurm_local import GONE_S, REPO, SHAPE, QueueWatch, wait_for_jobs

from volseg.runtime import slurm_cluster
from volseg.testing import volseg_command

PAGE = REPO / "docs" / "deployment.md"
FENCE = re.compile(r"^```(\w*)(.*)$")


def fenced(page: Path) -> list[tuple[str, str, str]]:
    """The fenced blocks of ``page`` after its "## SLURM" heading: (language, info, text)."""
    text = page.read_text(encoding="utf-8").split("\n## SLURM\n", 1)[1]
    found, current = [], None
    for line in text.splitlines():
        match = FENCE.match(line)
        if current is None and match:
            current = (match.group(1), match.group(2), [])
        elif current is not None and line.strip() == "```":
            found.append((current[0], current[1], "\n".join(current[2]) + "\n"))
            current = None
        elif current is not None:
            current[2].append(line)
    return found


def commands(prefix: str) -> list[list[str]]:
    """The ``text`` blocks' command lines that start with ``prefix``, split like a shell."""
    return [
        shlex.split(line)
        for lang, _, text in fenced(PAGE)
        if lang == "text"
        for line in text.splitlines()
        if line.startswith(prefix)
    ]


@pytest.mark.usefixtures("slurm")
def test_the_walkthrough_runs_as_written(slurm_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    config = next(text for lang, info, text in fenced(PAGE) if 'title="slurm.yaml"' in info)
    (tmp_path / "slurm.yaml").write_text(config)
    name = yaml.safe_load(config)["job_name"]
    adapt = yaml.safe_load(config)["adapt"]
    run, resume = commands("volseg segment out/demo")
    assert resume == [*run, "--resume"] and "--scheduler" in run
    # the page's inputs are the demo's; here, the tests' phantom and tiny model
    volume, model = slurm_inputs
    args = ["segment", str(volume), *run[3:]]
    args[args.index("--model") + 1] = str(model)
    args += ["--device", "cpu", "--tile", "32", "--no-progress"]
    with QueueWatch(name) as watch:
        res = subprocess.run(volseg_command(*args), cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert f"{SHAPE[0]} blocks done, 0 skipped, 0 failed" in res.stdout
    # none at first (minimum_jobs 0), then jobs for the pending blocks, at most the maximum
    assert watch.samples[0] == adapt["minimum_jobs"] == 0
    assert 1 <= watch.most_running <= adapt["maximum_jobs"]
    wait_for_jobs(name, lambda now: not now, GONE_S, "no job left")
    assert list((tmp_path / "logs" / "slurm").glob("*.err"))  # the worker jobs' logs

    again = subprocess.run(volseg_command(*args, "--resume"), cwd=tmp_path, capture_output=True,
                           text=True)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert f"0 blocks done, {SHAPE[0]} skipped, 0 failed" in again.stdout


def test_the_gpu_example_asks_for_one_gpu_per_worker_job() -> None:
    gpu = next(
        yaml.safe_load(text)
        for lang, _, text in fenced(PAGE)
        if lang == "yaml" and "gpus" in yaml.safe_load(text)
    )
    gpu["scheduler_options"] = {"dashboard_address": ":0", "host": "127.0.0.1"}
    with slurm_cluster(gpu) as cluster:
        script = cluster.job_script()
    lines = script.splitlines()
    assert "#SBATCH --gres=gpu:1" in lines and "#SBATCH -p gpu" in lines
    assert "#SBATCH --cpus-per-task=8" in lines and "module load cuda/12.4" in lines
    worker = next(line for line in lines if "distributed.cli.dask_worker" in line)
    assert "--resources GPU=1" in worker and "--nworkers" not in worker
