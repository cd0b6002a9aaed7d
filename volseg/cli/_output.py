"""How a command reports its outcome: lines of text for people, or one JSON object.

With ``--json`` standard output carries exactly one JSON object, the summary, and nothing
else: progress bars and failure messages are on standard error, as without it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

AsJson = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print the summary as one JSON object on stdout instead of text (progress and "
        "errors stay on stderr).",
    ),
]


def plain(value: Any) -> Any:
    """``value`` in JSON types: paths as strings, dataclasses as objects, numpy scalars and
    arrays as numbers and lists, tuples as lists, NaN and infinities as null.

    Raises
    ------
    TypeError
        For anything else (a summary holding it is a bug of the command).
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return plain(value.tolist())
    raise TypeError(f"{type(value).__name__} is not JSON: {value!r}")


def emit(summary: Mapping[str, Any], text: Sequence[str], *, as_json: bool) -> None:
    """Print ``text`` line by line, or with ``as_json`` ``summary`` as one JSON object."""
    if as_json:
        typer.echo(json.dumps(plain(summary), indent=2, allow_nan=False))
    else:
        for line in text:
            typer.echo(line)
