"""A summary of what a store holds, for ``volseg info``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from volseg.io._layout import nbytes_human
from volseg.io._store import VolumeStore, attrs


def _stored_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def describe(path: str | Path) -> dict[str, Any]:
    """Shape, dtype, chunks, voxel size, levels, labels, provenance and completeness.

    Parameters
    ----------
    path
        A volseg store.

    Returns
    -------
    dict
        Plain JSON-ready values (what ``volseg info --json`` prints; :func:`format_info`
        renders them as text).

    Raises
    ------
    StoreNotFoundError, InvalidStoreError
        ``path`` is not a volseg store.
    """
    store = VolumeStore.open(path)
    image = store.image(0)
    meta = store.meta
    labels = {}
    for name in store.label_names:
        arr = store.labels(name)
        lmeta = attrs(store.label_group(name)).get("volseg", {})
        labels[name] = {
            "dtype": str(arr.dtype),
            "classes": store.classes(name),
            "class_fractions": lmeta.get("class_fractions"),
            "complete": bool(lmeta.get("complete", True)),
        }
    size = _stored_bytes(store.path)
    return {
        "path": str(store.path),
        "complete": store.complete,
        "shape": list(image.shape),
        "dtype": str(image.dtype),
        "chunks": list(image.chunks),
        "voxel_size_um": list(store.voxel_size),
        "levels": [list(store.image(k).shape) for k in range(store.levels)],
        "nbytes": image.nbytes,
        "stored_bytes": size,
        "compression_ratio": round(image.nbytes / size, 2) if size else None,
        "labels": labels,
        "provenance": meta.get("provenance", {}),
        "extra": {
            k: v
            for k, v in meta.items()
            if k not in ("provenance", "complete", "voxel_size", "unit", "format")
        },
    }


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_info(info: dict[str, Any]) -> str:
    """The human-readable text printed by ``volseg info``."""
    z, y, x = info["shape"]
    status = "complete" if info["complete"] else "INCOMPLETE (writing never finished)"
    lines = [
        f"store        {info['path']}",
        f"status       {status}",
        f"shape        {z} x {y} x {x} (z, y, x)   dtype {info['dtype']}",
        f"chunks       {' x '.join(map(str, info['chunks']))}",
        "voxel size   " + " x ".join(f"{v:g}" for v in info["voxel_size_um"]) + " µm (z, y, x)",
        f"levels       {len(info['levels'])}: "
        + ", ".join("x".join(map(str, s)) for s in info["levels"]),
        f"size         {nbytes_human(info['nbytes'])} raw, {nbytes_human(info['stored_bytes'])} "
        f"on disk (ratio {info['compression_ratio']})",
    ]
    if not info["labels"]:
        lines.append("labels       none")
    for name, lab in info["labels"].items():
        fr = lab["class_fractions"] or {}
        classes = ", ".join(
            f"{i}={c}" + (f" ({100 * fr[c]:.2f} %)" if c in fr else "")
            for i, c in enumerate(lab["classes"])
        )
        lines.append(f"labels       {name} [{lab['dtype']}]: {classes}")
    for key, value in info["extra"].items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={_short(v)}" for k, v in value.items())
        lines.append(f"{key:<12} {_short(value)}")
    prov = info["provenance"]
    if prov:
        lines.append(f"made by      volseg {prov.get('volseg_version')} on {prov.get('created')}")
        lines.append(f"command      {prov.get('command')}")
        for inp in prov.get("inputs", []):
            desc = ", ".join(f"{k}={v}" for k, v in inp.items())
            lines.append(f"input        {desc}")
    return "\n".join(lines)
