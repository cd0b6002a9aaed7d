"""``volseg`` as a user's shell runs it (``python -m volseg.cli``): usage errors, --version,
-h and shell completion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import volseg


def _volseg(
    *args: object, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "volseg.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=None if env is None else {**os.environ, **env},
        cwd=cwd,
    )


@pytest.mark.parametrize(
    ("args", "usage", "message"),
    [
        (["bogus"], "Usage: volseg [OPTIONS] COMMAND", "No such command 'bogus'"),
        (["segment", "v.zarr", "--model", "m.pt", "--out", "o.zarr", "--bogus"],
         "Usage: volseg segment [OPTIONS]", "No such option: --bogus"),
        (["segment"], "Usage: volseg segment [OPTIONS]", "Missing argument 'volume'"),
        (["segment", "v.zarr", "--out", "o.zarr"], "Usage: volseg segment",
         "Missing option '--model'"),
        (["study", "tiles", "v.zarr", "--model"], "Usage: volseg study tiles [OPTIONS]",
         "Option '--model' requires an argument"),
        (["segment", "v.zarr", "--model", "m.pt", "--out", "o.zarr", "--retries", "two"],
         "Usage: volseg segment", "Invalid value for '--retries'"),
        (["--show-completion", "tcsh"], "Usage: volseg [OPTIONS]",
         "'tcsh' is not one of 'bash', 'zsh', 'fish', 'powershell', 'pwsh'"),
        (["classify", "seg.zarr", "--out", "d"], "Usage: volseg classify apply",
         "Missing option '--classifier'"),
        (["study", "crops"], "Usage: volseg study crops", "Missing argument 'config'"),
    ],
)  # fmt: skip
def test_a_usage_error_prints_the_usage_and_exits_2(
    tmp_path: Path, args: list[str], usage: str, message: str
) -> None:
    res = _volseg(*args, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""
    assert res.stderr.startswith(usage), res.stderr
    assert message in res.stderr and "--help' for help." in res.stderr
    assert list(tmp_path.iterdir()) == []  # refused before any work


@pytest.mark.parametrize("args", [[], ["study"], ["classify"]])
def test_a_group_without_its_command_prints_its_help_and_exits_2(args: list[str]) -> None:
    res = _volseg(*args)
    assert res.returncode == 2 and "Traceback" not in res.stderr + res.stdout
    assert f"Usage: {' '.join(['volseg', *args])} [OPTIONS] COMMAND" in res.stderr + res.stdout


def test_version_prints_the_version_and_exits_0() -> None:
    res = _volseg("--version")
    assert res.returncode == 0 and res.stdout == f"volseg {volseg.__version__}\n"
    assert res.stderr == ""


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        ([], ["segment", "evaluate", "study", "--version", "--show-completion"]),
        (["segment"], ["--model", "--tile", "--json"]),
        (["study", "tiles"], ["--overlaps", "--json"]),
        (["classify"], ["apply", "train"]),
        (["classify", "train"], ["--truth", "--neck-ratio"]),
    ],
)
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_h_and_help_print_the_help_and_exit_0(args: list[str], shown: list[str], flag: str) -> None:
    res = _volseg(*args, flag, env={"COLUMNS": "200"})
    assert res.returncode == 0, res.stderr
    assert f"Usage: {' '.join(['volseg', *args])} [OPTIONS]" in res.stdout
    assert all(word in res.stdout for word in shown), res.stdout


@pytest.mark.parametrize(
    ("shell", "lines"),
    [
        ("bash", ["complete -o default -F _volseg_completion volseg", "=complete_bash"]),
        ("zsh", ["compdef _volseg_completion volseg", "=complete_zsh"]),
        ("fish", ["complete --command volseg", "=complete_fish"]),
        ("pwsh", ["-CommandName volseg", '_VOLSEG_COMPLETE = "complete_powershell"']),
    ],
)
def test_show_completion_prints_the_script_of_the_shell_given(shell: str, lines: list[str]) -> None:
    res = _volseg("--show-completion", shell)
    assert res.returncode == 0, res.stderr
    assert "_VOLSEG_COMPLETE" in res.stdout and all(line in res.stdout for line in lines)


def test_install_completion_writes_the_script_and_sources_it(tmp_path: Path) -> None:
    res = _volseg("--install-completion", "bash", env={"HOME": str(tmp_path)})
    assert res.returncode == 0, res.stderr
    script = tmp_path / ".bash_completions" / "volseg.sh"
    assert script.read_text().strip() == _volseg("--show-completion", "bash").stdout.strip()
    assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("volseg seg", ["segment"]),
        ("volseg study t", ["tiles"]),
        ("volseg study ", ["crops", "inputs", "tiles"]),
        ("volseg classify tr", ["train"]),
        ("volseg segment v.zarr --win", ["--window"]),
        ("volseg --show-completion z", ["zsh"]),
    ],
)
def test_the_completion_protocol_completes_commands_and_options(
    words: str, expected: list[str]
) -> None:
    """What the installed bash script asks ``volseg`` at each TAB."""
    env = {
        "_VOLSEG_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
    }
    res = _volseg(env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == expected


def test_the_command_line_loads_without_torch_or_sklearn() -> None:
    """Every TAB runs ``volseg``: importing the commands must stay cheap."""
    code = "import sys, volseg.cli; print(sorted(m for m in ('torch', 'sklearn', 'dask', "
    code += "'distributed', 'numba') if m in sys.modules))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_the_defaults_quoted_in_the_help_are_the_library_defaults() -> None:
    """Options whose defaults live in modules that load torch quote them in their help."""
    import typer.main

    from volseg.classify import DEFAULT_NECK_RATIO
    from volseg.cli import app
    from volseg.study._tile_rule import (
        DEFAULT_IOU_TOLERANCE,
        DEFAULT_OVERLAPS,
        DEFAULT_TOLERANCE,
        WINDOWS,
    )

    root = typer.main.get_command(app)
    study = root.commands["study"].commands["tiles"]  # type: ignore[attr-defined]
    train = root.commands["classify"].commands["train"]  # type: ignore[attr-defined]
    helps = {p.name: getattr(p, "help", "") for p in [*study.params, *train.params]}
    assert f"(default {','.join(f'{o:g}' for o in DEFAULT_OVERLAPS)})" in helps["overlaps"]
    assert f"default {DEFAULT_TOLERANCE:g})" in helps["tolerance"]
    assert f"default {DEFAULT_IOU_TOLERANCE:g})" in helps["iou_tolerance"]
    assert f"(default {DEFAULT_NECK_RATIO:g})" in helps["neck_ratio"]
    windows = next(p for p in study.params if p.name == "windows")
    assert windows.default == ",".join(WINDOWS)
