"""The top-level API: every entry point importable from ``volseg``, lazily, documented."""

from __future__ import annotations

import inspect
import subprocess
import sys
from typing import Any

import griffe
import pytest

import volseg

HEAVY = ("torch", "distributed", "numba", "sklearn")


def _imported_after(code: str) -> set[str]:
    """Top-level packages of ``HEAVY`` imported by ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    res = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return set(res.stdout.split())


def test_import_volseg_imports_no_heavy_dependency():
    assert _imported_after("import volseg\nvolseg.__version__") == set()
    # ... while touching an entry point does import what it needs (the probe can fail)
    assert "torch" in _imported_after("import volseg\nvolseg.train")


def test_every_exported_name_resolves_to_its_subpackage_object():
    assert set(volseg.__all__) == {"__version__", *volseg._EXPORTS}
    for name in volseg.__all__:
        value = getattr(volseg, name)
        assert value is not None, name
        if name == "__version__":
            continue
        module, attribute = volseg._EXPORTS[name]
        assert value is getattr(sys.modules[module], attribute), name
    assert sorted(dir(volseg)) == dir(volseg) and set(volseg.__all__) <= set(dir(volseg))
    with pytest.raises(AttributeError, match="no attribute 'segmnet'"):
        _ = volseg.segmnet  # type: ignore[attr-defined]


def test_entry_points_named_like_their_subpackage_stay_functions():
    # importing volseg.demo imports the subpackages volseg.segment, volseg.train, ... first
    code = (
        "import volseg.demo, volseg.segment, volseg.train, volseg.classify, volseg.reconstruct\n"
        "import volseg\n"
        "from volseg.segment import make_segment_config\n"
        "names = ('segment', 'train', 'classify', 'reconstruct')\n"
        "print(' '.join(type(getattr(volseg, n)).__name__ for n in names))"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert res.stdout.split() == ["function"] * 4


def _sections(obj: Any) -> dict[str, Any]:
    doc = griffe.Docstring(inspect.getdoc(obj) or "", parser=griffe.Parser.numpy)
    return {s.kind.value: s.value for s in doc.parse()}


def _documented_parameters(obj: Any) -> list[str] | None:
    sections = _sections(obj)
    if "parameters" not in sections:
        return None
    return [p.name.lstrip("*") for p in sections["parameters"]]


@pytest.mark.parametrize("name", [n for n in volseg.__all__ if n != "__version__"])
def test_exported_entry_point_has_a_numpydoc_docstring(name):
    obj = getattr(volseg, name)
    doc = inspect.getdoc(obj)
    assert doc and doc.splitlines()[0].strip(), f"volseg.{name} has no summary line"
    if inspect.isclass(obj):
        return
    sig = inspect.signature(obj)
    params = list(sig.parameters)
    if params:
        documented = _documented_parameters(obj)
        assert documented is not None, f"volseg.{name}: no Parameters section"
        assert documented == params, f"volseg.{name}: Parameters {documented} != {params}"
    returns = sig.return_annotation
    if returns not in (None, "None", inspect.Signature.empty):
        assert "returns" in _sections(obj), f"volseg.{name}: no Returns section"


def test_the_docstring_check_fails_on_a_missing_section():
    def undocumented(path: str, *, level: int = 0) -> int:
        """Do something.

        Parameters
        ----------
        path
            A path.
        """
        return level

    assert _documented_parameters(undocumented) == ["path"]
    assert "returns" not in _sections(undocumented)
