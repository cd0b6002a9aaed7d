"""slurm_cluster builds a dask-jobqueue SLURMCluster from a volseg config, submitting nothing."""

from __future__ import annotations

import pytest
import yaml

from volseg.errors import ConfigError
from volseg.runtime import SLURM_EXAMPLE, connect, slurm_cluster, slurm_options
from volseg.runtime._slurm import is_slurm_config

pytest.importorskip("dask_jobqueue", reason="dask-jobqueue (the 'slurm' extra) is not installed")


def test_example_config_gives_the_expected_job_script(tmp_path) -> None:
    config = yaml.safe_load(SLURM_EXAMPLE.read_text())
    config["scheduler_options"] = {"dashboard_address": ":0", "host": "127.0.0.1"}
    path = tmp_path / "slurm.yaml"
    path.write_text(yaml.safe_dump(config))
    with slurm_cluster(path) as cluster:
        script = cluster.job_script()
        assert len(cluster.workers) == 0  # nothing submitted
    lines = script.splitlines()
    for expected in (
        "#SBATCH -J volseg",
        "#SBATCH -p gpu",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=64G",
        "#SBATCH -t 04:00:00",
        "#SBATCH --constraint=a100",
        "#SBATCH --gres=gpu:1",
        "module load cuda/12.4",
    ):
        assert expected in lines, f"{expected!r} not in the job script:\n{script}"
    worker = next(line for line in lines if "distributed.cli.dask_worker" in line)
    assert "--nthreads 8" in worker and "--nworkers" not in worker  # one process per job
    assert "--resources GPU=1" in worker
    assert "--memory-limit 64.00GiB" in worker
    assert "--local-directory $TMPDIR" in worker


def test_cpu_only_config_and_validation() -> None:
    opts = slurm_options({"cores": 4, "memory": "16GiB", "queue": "cpu", "processes": 2})
    assert opts["queue"] == "cpu" and opts["processes"] == 2
    assert opts["job_extra_directives"] == [] and opts["worker_extra_args"] == []
    with pytest.raises(ConfigError, match=r"unknown SLURM option.*walltim"):
        slurm_options({"cores": 4, "memory": "16GiB", "walltim": "1:00:00"})
    with pytest.raises(ConfigError, match="needs memory"):
        slurm_options({"cores": 4})
    with pytest.raises(ConfigError, match="processes: 1"):
        slurm_options({"cores": 8, "memory": "32GiB", "gpus": 1, "processes": 2})
    custom = slurm_options({"cores": 8, "memory": "32GiB", "gpus": 1, "gres": "gpu:a100:1"})
    assert custom["job_extra_directives"] == ["--gres=gpu:a100:1"]


def test_a_gpu_run_on_a_config_without_gpus_is_refused_before_submitting(tmp_path) -> None:
    config = {"cores": 4, "memory": "16GiB", "scheduler_options": {"host": "127.0.0.1"}}
    with pytest.raises(ConfigError, match=r"needs GPU workers.*set gpus: 1"):
        slurm_cluster(config, submit=True, resources={"GPU": 1})
    with pytest.raises(ConfigError, match="needs GPU workers"):
        connect(str(_write(tmp_path / "cpu.yaml", config)), resources={"GPU": 1})


def test_a_yaml_scheduler_names_a_slurm_config() -> None:
    assert is_slurm_config("slurm.yaml") and is_slurm_config("site/SLURM.YML")
    assert not is_slurm_config("tcp://host:8786") and not is_slurm_config("scheduler.json")


def _write(path, config):
    path.write_text(yaml.safe_dump(config))
    return path


def test_local_sizes_with_a_slurm_config_say_where_to_size_it(tmp_path) -> None:
    path = _write(tmp_path / "slurm.yaml", {"cores": 1, "memory": "1GiB"})
    with pytest.raises(ConfigError, match=r"set jobs or adapt .* in the SLURM config"):
        connect(str(path), n_workers=2)
