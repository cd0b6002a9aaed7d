"""Where a run keeps its state: a folder inside the output store that zarr does not read."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

#: The run-state folder inside an output store. It holds no ``zarr.json``, so zarr and
#: OME-Zarr readers never treat it as data; deleting the store deletes the run state with it.
RUN_DIR = ".volseg-run"


def run_dir(store_path: str | os.PathLike[str]) -> Path:
    """The run-state folder of the output store at ``store_path``."""
    return Path(store_path) / RUN_DIR


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` via a temporary file and a rename.

    Readers see the old file or the new one, never a partial write.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, sort_keys=True, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
