"""The documentation site builds with ``mkdocs build --strict``: any warning fails (broken
links or anchors, pages outside the navigation, docstrings that do not parse)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

import volseg

REPO = Path(__file__).resolve().parents[1]


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_site_builds_strict_without_warnings(tmp_path):
    res = _build(REPO / "mkdocs.yml", tmp_path / "site")
    warnings = [ln for ln in res.stderr.splitlines() if ln.startswith(("WARNING", "ERROR"))]
    assert res.returncode == 0 and not warnings, res.stderr[-5000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    # the API page shows the numpydoc sections of the entry points
    assert 'id="volseg.segment.segment"' in api and "Parameters" in api and "Returns" in api
    assert (tmp_path / "site" / "study" / "crops_tomography" / "report" / "index.html").is_file()


def test_strict_build_fails_on_a_broken_link(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\nSee [the missing page](missing.md).\n")
    config = tmp_path / "mkdocs.yml"
    config.write_text(f"site_name: t\ndocs_dir: {docs}\nnav:\n  - Home: index.md\n")
    res = _build(config, tmp_path / "site")
    assert res.returncode != 0 and "missing.md" in res.stderr


def _nav_pages(nav: list) -> list[str]:
    pages: list[str] = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_nav_lists_every_page():
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    listed = set(_nav_pages(config["nav"]))
    pages = {p.relative_to(REPO / "docs").as_posix() for p in (REPO / "docs").glob("*.md")}
    assert listed == pages


def test_api_page_documents_every_exported_name():
    text = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    documented = {m.rsplit(".", 1)[-1] for m in re.findall(r"^::: ([\w.]+)$", text, re.M)}
    assert documented == set(volseg.__all__) - {"__version__"}
