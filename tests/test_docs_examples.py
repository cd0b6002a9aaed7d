"""Every ```bash and ```python block of the docs and the README runs (docs/contributing.md).

One scratch folder per page, laid out like a checkout after ``volseg demo`` (``out/demo/``,
``pipelines/``, ``.venv``, ``../shared/data``); the page's blocks run there in order, each
in its own process. Set-up blocks (``bash .ci/setup ...``) are compared with ``.ci/run``
instead of run; a block that is just ``volseg demo`` reuses the session's demo run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
VENV = Path(sys.prefix)
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
RUN = ("bash", "python")
SETUP = "bash .ci/setup"
ACTIVATE = "source .venv/bin/activate"
DEMO = {"volseg demo", ".venv/bin/volseg demo"}
BLOCK_TIMEOUT_S = 600
FENCE = re.compile(r"^```\s*([\w+-]*)(.*)$")
TITLE = re.compile(r'title="([^"]+)"')


@dataclass(frozen=True)
class Block:
    """One fenced code block: its page, the line of its opening fence, language, code and
    ``title="NAME"`` (a file the block's text is written to before later blocks run)."""

    page: Path
    line: int
    lang: str
    code: str
    title: str | None = None

    def commands(self) -> list[str]:
        """The block's non-blank lines without comments (bash blocks)."""
        lines = (ln.split(" #")[0].strip() for ln in self.code.splitlines())
        return [ln for ln in lines if ln and not ln.startswith("#")]


class ExampleFailed(AssertionError):
    pass


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a markdown page, in order (fences at the start of a line)."""
    found: list[Block] = []
    lang: str | None = None
    start, body, title = 0, [], None
    for number, text in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(text)
        if lang is None and match:
            lang, start, body = match.group(1), number, []
            named = TITLE.search(match.group(2))
            title = named.group(1) if named else None
        elif lang is not None and text.strip() == "```":
            found.append(Block(page, start, lang, "\n".join(body) + "\n", title))
            lang = None
        elif lang is not None:
            body.append(text)
    assert lang is None, f"{page}:{start}: code block never closed"
    return found


def ci_command() -> str:
    """The command ``.ci/run`` runs (its last line)."""
    lines = (REPO / ".ci" / "run").read_text().strip().splitlines()
    return lines[-1].strip()


def setup_tail(block: Block) -> list[str]:
    """Check a set-up block against ``.ci/run``; return what it runs after the set-up."""
    ci_setup, _, ci_test = ci_command().partition(" && ")
    assert ci_setup == SETUP, f".ci/run no longer starts with {SETUP!r}: {ci_command()!r}"
    tails = []
    for command in block.commands():
        if command == ACTIVATE:
            continue
        head, _, tail = command.partition(" && ")
        where = f"{block.page.name}:{block.line}"
        assert head == SETUP, f"{where}: set-up block runs {command!r}, not {SETUP!r}"
        assert tail in ("", ci_test, *DEMO), f"{where}: {tail!r} is not {ci_test!r} or the demo"
        tails.append(tail)
    return tails


def checkout(root: Path) -> Path:
    """A scratch folder laid out like a checkout: ``.venv``, ``pipelines``, ``../shared``."""
    work = root / "checkout"
    work.mkdir(parents=True)
    (work / ".venv").symlink_to(VENV)
    for name in ("pipelines", "benchmarks"):
        (work / name).symlink_to(REPO / name)
    if SHARED.is_dir():
        (root / "shared").symlink_to(SHARED)
    return work


def environment(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    env.update(
        PATH=f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(VENV),
        MPLBACKEND="Agg",
        VOLSEG_CACHE_DIR=str(root / "cache"),
        NO_COLOR="1",
        COLUMNS="100",
    )
    return env


def run_block(block: Block, cwd: Path, env: dict[str, str]) -> str:
    """Run one bash or python block in ``cwd``; its output, or ExampleFailed naming it."""
    script = cwd.parent / f"block_{block.line}.{'sh' if block.lang == 'bash' else 'py'}"
    script.write_text(block.code, encoding="utf-8")
    # python runs the block as `python -c`, as typed into a session: a script file (or
    # stdin) would be run again by the worker processes of a local dask cluster (spawn)
    argv = ["bash", "-euo", "pipefail", str(script)] if block.lang == "bash" else []
    argv = argv or [str(VENV / "bin" / "python"), "-c", block.code]
    log = script.with_suffix(".log")
    # a session of its own: background jobs of the block (a dask scheduler) end with it;
    # output goes to a file, as they would hold a pipe open after the block ends
    with log.open("w") as sink:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=sink,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            proc.wait(timeout=BLOCK_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    out = log.read_text(encoding="utf-8", errors="replace")
    if proc.returncode == -signal.SIGKILL:
        out += f"\n(killed after {BLOCK_TIMEOUT_S} s)"
    if proc.returncode != 0:
        raise ExampleFailed(
            f"{block.page.name}:{block.line}: ```{block.lang} block failed "
            f"(exit {proc.returncode})\n{block.code}\n--- output (tail) ---\n{out[-4000:]}"
        )
    return out


def run_page(page: Path, cwd: Path, env: dict[str, str]) -> int:
    """Run a page's examples in order in ``cwd``; the number of blocks executed."""
    ran = 0
    for block in blocks(page):
        if block.lang not in RUN:
            if block.title:  # a file the next blocks use, shown with its name
                (cwd / block.title).write_text(block.code, encoding="utf-8")
            continue
        if block.lang == "bash" and block.commands()[:1] and block.commands()[0].startswith(SETUP):
            setup_tail(block)
        elif block.lang == "bash" and set(block.commands()) <= DEMO:
            pass  # the session's demo run made out/demo already
        else:
            run_block(block, cwd, env)
            ran += 1
    return ran


@pytest.fixture(scope="session")
def demo_run(request: pytest.FixtureRequest) -> Path:
    """``out/demo`` of the README's demo command (the session's ``volseg demo`` run, which
    ``tests/test_demo.py`` checks; ``VOLSEG_DOCS_DEMO=<out/demo of an earlier run>`` reuses
    one while editing a page)."""
    if os.environ.get("VOLSEG_DOCS_DEMO"):
        return Path(os.environ["VOLSEG_DOCS_DEMO"]).resolve()
    demo = [
        tail
        for block in blocks(REPO / "README.md")
        if block.lang == "bash" and block.commands()[0].startswith(SETUP)
        for tail in setup_tail(block)
        if tail in DEMO
    ]
    assert demo, "README.md has no set-up block that runs the demo"
    root, _ = request.getfixturevalue("demo_cli")
    assert (root / "out" / "demo" / "training" / "best.pt").is_file()
    return root / "out" / "demo"


def _runnable(page: Path) -> bool:
    return any(b.lang in RUN for b in blocks(page))


@pytest.mark.parametrize(
    "page", [p for p in PAGES if _runnable(p)], ids=lambda p: str(p.relative_to(REPO))
)
def test_page_examples_run(page: Path, demo_run: Path, tmp_path: Path) -> None:
    work = checkout(tmp_path)
    shutil.copytree(demo_run, work / "out" / "demo", symlinks=True)
    run_page(page, work, environment(tmp_path))


def test_runner_runs_blocks_in_order_and_names_the_failing_one(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# A page\n\n```bash\nsleep 300 &\necho 41 > n.txt\n```\n\n"
        '```text title="t.txt"\nnot run: exit 1\n```\n\n'
        "```python\nfrom pathlib import Path\n\nassert Path('n.txt').read_text() == '41\\n'\n"
        "Path('n.txt').write_text('42')\n```\n\n```bash\ntest \"$(cat n.txt)\" = 43\n```\n"
    )
    work = checkout(tmp_path)
    t0 = time.monotonic()
    with pytest.raises(ExampleFailed, match=r"page.md:19: ```bash block failed \(exit 1\)"):
        run_page(page, work, environment(tmp_path))
    assert (work / "n.txt").read_text() == "42"  # both earlier blocks ran, in order
    assert (work / "t.txt").read_text() == "not run: exit 1\n"  # a titled block is a file
    assert time.monotonic() - t0 < 60  # the background `sleep` ended with its block


def test_setup_blocks_must_be_what_ci_runs(tmp_path: Path) -> None:
    ok = Block(tmp_path / "a.md", 1, "bash", f"{ci_command()}\n{ACTIVATE}\n")
    assert setup_tail(ok) == [ci_command().partition(" && ")[2]]
    wrong = Block(tmp_path / "a.md", 1, "bash", f"{SETUP} && .venv/bin/python -m pytest -x\n")
    with pytest.raises(AssertionError, match="is not"):
        setup_tail(wrong)


def test_every_page_in_the_docs_is_collected() -> None:
    names = {p.relative_to(REPO).as_posix() for p in PAGES if _runnable(p)}
    assert {"README.md", "docs/quickstart.md", "docs/classify.md"} <= names
    assert shlex.split(ci_command())[:2] == ["bash", ".ci/setup"]
