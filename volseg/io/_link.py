"""Stores derived from another by hard links: outputs that share an input's bytes, no copy."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import zarr

from volseg.errors import ConfigError
from volseg.io._layout import OME_VERSION
from volseg.io._store import VolumeStore, attrs, prepare_output
from volseg.runtime import RUN_DIR

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


def derived_store(
    volume: VolumeStore,
    out: str | os.PathLike[str],
    *,
    provenance: Mapping[str, Any],
    overwrite: bool,
    labels: Sequence[str] = (),
) -> VolumeStore:
    """A new, incomplete store at ``out`` sharing ``volume``'s image (and ``labels``).

    The image levels and the named label images are hard links of the input's files
    (:func:`link_tree`): no copy, and neither store can change the other. The root
    metadata is the input's OME metadata plus a volseg record (incomplete, ``provenance``,
    where the image came from). Outputs of a job are added to it, then marked complete.

    Raises
    ------
    ConfigError
        ``out`` is the input store.
    StoreExistsError
        ``out`` exists and ``overwrite`` is false, or it is not a volseg store.
        A folder holding only the run-state folder :data:`~volseg.runtime.RUN_DIR` counts
        as free, and that folder is kept when ``out`` is replaced: the run that replaces
        it holds its lock there (:func:`volseg.runtime.open_run`).
    StoreNotFoundError
        A label image in ``labels`` is not in ``volume`` (the message lists those there are).
    """
    out = Path(out)
    if out.resolve() == volume.path.resolve():
        raise ConfigError(f"the output {out} must not be the input store {volume.path}")
    for name in labels:
        volume.label_group(name)  # raises, naming the labels there are, if absent
    prepare_output(out, overwrite=overwrite, keep=(RUN_DIR,))  # the run's lock stays
    out.mkdir(parents=True, exist_ok=True)
    modes = {
        link_tree(volume.path / ds["path"], out / ds["path"])
        for ds in volume.multiscale["datasets"]
    }
    if labels:
        root = zarr.open_group(out / "labels", mode="w", zarr_format=3)
        root.attrs.update({"ome": {"version": OME_VERSION, "labels": list(labels)}})
        for name in labels:
            modes.add(link_tree(volume.path / "labels" / name, out / "labels" / name))
    zarr_json = {"zarr_format": 3, "node_type": "group", "attributes": {}}
    (out / "zarr.json").write_text(json.dumps(zarr_json))
    group = zarr.open_group(out, mode="a", zarr_format=3)
    group.attrs.update(
        {
            "ome": attrs(volume.group)["ome"],
            "volseg": {
                "format": 1,
                "complete": False,
                "voxel_size": list(volume.voxel_size),
                "unit": "micrometer",
                "provenance": dict(provenance),
                "image_source": {
                    "path": str(volume.path.resolve()),
                    "mode": "copy" if "copy" in modes else "hardlink",
                },
            },
        }
    )
    return VolumeStore(out, group)
