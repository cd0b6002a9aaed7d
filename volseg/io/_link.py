"""Hard-linked copies of store folders: outputs that share an input's bytes without copying."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Literal

LinkMode = Literal["hardlink", "copy"]


def link_tree(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> LinkMode:
    """Recreate the folder ``src`` under ``dst`` with hard links.

    Files are hard-linked, so the new tree takes no extra space on the same file system;
    where linking fails (another file system, a file system without hard links) the file
    is copied instead. zarr replaces files when it writes (temp file + rename), so writing
    to either tree never changes the other. Unfinished ``*.partial`` files are skipped.

    Returns
    -------
    ``"hardlink"`` when every file was linked, ``"copy"`` when any had to be copied.
    """
    src, dst = Path(src), Path(dst)
    mode: LinkMode = "hardlink"
    for root, _, files in os.walk(src):
        rel = Path(root).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            if name.endswith(".partial"):
                continue
            try:
                os.link(Path(root) / name, dst / rel / name)
            except OSError:
                shutil.copy2(Path(root) / name, dst / rel / name)
                mode = "copy"
    return mode
