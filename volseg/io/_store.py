"""The volseg volume store: an OME-Zarr 0.5 image with labels, provenance and completeness.

A store is created empty and marked *incomplete*; writers fill its arrays, and only when
everything is written is it marked complete (the last write). Readers refuse incomplete
stores unless asked otherwise, so an interrupted or failed job never looks finished.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from volseg.errors import (
    ConfigError,
    IncompleteStoreError,
    InvalidStoreError,
    StoreNotFoundError,
)
from volseg.io._layout import (
    AXES,
    OME_VERSION,
    compressors,
    default_chunks,
    image_label,
    label_omero,
    level_factors,
    level_shapes,
    multiscales,
    scale_and_translation,
)
from volseg.runtime import check_output

#: Image dtypes volseg stores (tomography is 8/16-bit or float).
IMAGE_DTYPES = ("uint8", "uint16", "float32")
#: Label dtypes: class maps are uint8; object ids may need more.
LABEL_DTYPES = ("uint8", "uint16", "uint32", "uint64")


def attrs(node: zarr.Group | zarr.Array) -> dict[str, Any]:
    """The attributes of a zarr node as a plain dict (a copy; write with ``.attrs.update``)."""
    return dict(node.attrs)


def prepare_output(path: Path, *, overwrite: bool, keep: Collection[str] = ()) -> None:
    """Make room for a new store at ``path`` without ever deleting foreign data.

    What :func:`~volseg.runtime.check_output` allows is deleted, except the entries named
    in ``keep`` (a run's state folder, ``RUN_DIR``, whose lock the run holds while it
    replaces the store).
    """
    check_output(path, overwrite=overwrite, keep=keep)
    if not path.exists() or all(p.name in keep for p in path.iterdir()):
        return  # nothing to delete
    if not keep:
        shutil.rmtree(path)
        return
    for entry in path.iterdir():
        if entry.name in keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _check_voxel_size(voxel_size: Sequence[float]) -> tuple[float, float, float]:
    vs = tuple(float(v) for v in voxel_size)
    if len(vs) != 3 or not all(np.isfinite(v) and v > 0 for v in vs):
        raise ConfigError(
            f"voxel size must be three positive numbers (z, y, x) in micrometres, got {voxel_size}"
        )
    return vs


def _check_chunks(chunks: Sequence[int], shape: Sequence[int]) -> tuple[int, int, int]:
    ch = tuple(int(c) for c in chunks)
    if len(ch) != 3 or any(c <= 0 for c in ch):
        raise ConfigError(f"chunks must be three positive integers (z, y, x), got {chunks}")
    return tuple(min(c, max(s, 1)) for c, s in zip(ch, shape, strict=True))  # type: ignore[return-value]


class VolumeStore:
    """An OME-Zarr 0.5 image store written and read by volseg.

    Use :meth:`create` to make a new (incomplete) store and :meth:`open` to open one.
    """

    def __init__(self, path: Path, group: zarr.Group) -> None:
        self.path = path
        self.group = group

    # ----------------------------------------------------------------- creation
    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        shape: Sequence[int],
        dtype: str | np.dtype,
        voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
        chunks: Sequence[int] | None = None,
        levels: int = 1,
        name: str = "image",
        provenance: Mapping[str, Any] | None = None,
        overwrite: bool = False,
    ) -> VolumeStore:
        """Create an empty, incomplete store with ``levels`` image levels.

        Raises
        ------
        StoreExistsError
            ``path`` exists and ``overwrite`` is false, or it is not a volseg store.
        ConfigError
            A bad shape, dtype, voxel size, chunking or level count.
        """
        path = Path(path)
        shape = tuple(int(s) for s in shape)
        if len(shape) != 3 or any(s <= 0 for s in shape):
            raise ConfigError(f"a volume needs three positive extents (z, y, x), got {shape}")
        dt = np.dtype(dtype)
        if dt.name not in IMAGE_DTYPES:
            raise ConfigError(
                f"image dtype {dt.name} is not supported; use one of {', '.join(IMAGE_DTYPES)}"
            )
        vs = _check_voxel_size(voxel_size)
        ch = _check_chunks(chunks if chunks is not None else default_chunks(shape, dt), shape)
        if levels < 1:
            raise ConfigError(f"levels must be at least 1, got {levels}")
        prepare_output(path, overwrite=overwrite)

        group = zarr.open_group(path, mode="w", zarr_format=3)
        shapes = level_shapes(shape, levels)
        for level, lshape in enumerate(shapes):
            group.create_array(
                str(level),
                shape=lshape,
                chunks=_check_chunks(ch, lshape),
                dtype=dt,
                fill_value=0,
                compressors=compressors(dt),
                dimension_names=AXES,
            )
        group.attrs.update(
            {
                "ome": {
                    "version": OME_VERSION,
                    "multiscales": multiscales(name, vs, level_factors(shapes)),
                },
                "volseg": {
                    "format": 1,
                    "complete": False,
                    "voxel_size": list(vs),
                    "unit": "micrometer",
                    "provenance": dict(provenance or {}),
                },
            }
        )
        return cls(path, group)

    def create_labels(
        self,
        name: str,
        *,
        classes: Sequence[str],
        dtype: str = "uint8",
        colors: Sequence[Sequence[int]] | None = None,
    ) -> zarr.Array:
        """Add an (incomplete) label image ``labels/<name>`` with the image's levels and chunks.

        Returns the level-0 array. ``classes[i]`` names label value ``i``. The label image
        carries ``omero`` display metadata and no multiscales name, so that napari-ome-zarr
        names its layer ``name`` (see :mod:`volseg.io._layout`).
        """
        if np.dtype(dtype).name not in LABEL_DTYPES:
            raise ConfigError(f"label dtype {dtype} is not supported; use {LABEL_DTYPES}")
        if not name or "/" in name or name.startswith("."):
            raise ConfigError(f"invalid labels name {name!r}: use a plain name like 'ground_truth'")
        root = zarr.open_group(self.path / "labels", mode="a", zarr_format=3)
        existing = list(attrs(root).get("ome", {}).get("labels", []))
        lgroup = root.create_group(name, overwrite=True)
        shapes = [self.image(level).shape for level in range(self.levels)]
        for level, lshape in enumerate(shapes):
            lgroup.create_array(
                str(level),
                shape=lshape,
                chunks=self.image(level).chunks,
                dtype=dtype,
                fill_value=0,
                compressors=compressors(dtype, labels=True),
                dimension_names=AXES,
            )
        lgroup.attrs.update(
            {
                "ome": {
                    "version": OME_VERSION,
                    "multiscales": multiscales(None, self.voxel_size, level_factors(shapes)),
                    "image-label": image_label(classes, colors),
                    "omero": label_omero(name),
                },
                "volseg": {"complete": False, "classes": list(classes)},
            }
        )
        if name not in existing:
            existing.append(name)
        root.attrs.update({"ome": {"version": OME_VERSION, "labels": existing}})
        return self.labels(name)

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | Path, *, mode: str = "r") -> VolumeStore:
        """Open an existing OME-Zarr image store (volseg's or another writer's)."""
        path = Path(path)
        if not (path / "zarr.json").is_file():
            raise StoreNotFoundError(
                f"no zarr v3 store at {path} (no zarr.json); create one with "
                "'volseg ingest' or 'volseg phantom'"
            )
        group = zarr.open_group(path, mode=mode, zarr_format=3)  # type: ignore[arg-type]
        ms = attrs(group).get("ome", {}).get("multiscales")
        if not ms:
            raise InvalidStoreError(
                f"{path} is a zarr group without OME-Zarr 'multiscales' metadata; "
                "it is not an OME-Zarr image"
            )
        axes = tuple(a["name"] for a in ms[0]["axes"])
        if axes != AXES:
            raise InvalidStoreError(f"{path} has axes {axes}; volseg reads (z, y, x) volumes")
        return cls(path, group)

    # --------------------------------------------------------------- properties
    @property
    def meta(self) -> dict[str, Any]:
        return dict(attrs(self.group).get("volseg", {}))

    @property
    def multiscale(self) -> dict[str, Any]:
        return dict(attrs(self.group)["ome"]["multiscales"][0])

    @property
    def levels(self) -> int:
        return len(self.multiscale["datasets"])

    @property
    def voxel_size(self) -> tuple[float, float, float]:
        scale, _ = scale_and_translation(self.multiscale["datasets"][0])
        return scale  # type: ignore[return-value]

    def image(self, level: int = 0) -> zarr.Array:
        """Image level ``level``. Writes through it store every chunk, all-zero ones too:
        a missing image chunk is damage (:func:`volseg.io.read_box`), never background."""
        path = self.multiscale["datasets"][level]["path"]
        array = self.group[path]
        assert isinstance(array, zarr.Array)
        return array.with_config({"write_empty_chunks": True})

    @property
    def label_names(self) -> list[str]:
        if "labels" not in self.group:
            return []
        return list(attrs(self.group["labels"]).get("ome", {}).get("labels", []))

    def label_group(self, name: str) -> zarr.Group:
        if name not in self.label_names:
            raise StoreNotFoundError(
                f"{self.path} has no labels image {name!r}; it has {self.label_names or 'none'}"
            )
        return self.group[f"labels/{name}"]  # type: ignore[return-value]

    def labels(self, name: str, level: int = 0) -> zarr.Array:
        return self.label_group(name)[str(level)]  # type: ignore[return-value]

    def classes(self, name: str) -> list[str]:
        """The class name of each label value of label image ``name``.

        An object label image (``volseg.objects`` in its attributes) has the classes its
        ``volseg`` record names (``["background"]``): its ``image-label`` properties
        describe objects, not classes, and may carry each object's ``class``. Other
        images name their classes in the properties (other writers' stores too).
        """
        group = attrs(self.label_group(name))
        volseg = group.get("volseg", {})
        if "objects" in volseg:
            return list(volseg.get("classes", ["background"]))
        props = group["ome"]["image-label"].get("properties", [])
        return [p.get("class", str(p["label-value"])) for p in props]

    def set_classes(
        self, name: str, classes: Sequence[str], *, fractions: Sequence[float] | None = None
    ) -> None:
        """Rewrite the class names (and optionally voxel fractions) of label image ``name``."""
        group = self.label_group(name)
        ome = dict(attrs(group)["ome"])
        colors = [c["rgba"] for c in ome["image-label"]["colors"]]
        colors += [c for c in image_label(classes, None)["colors"][len(colors) :]]
        ome["image-label"] = image_label(
            classes, [c["rgba"] if isinstance(c, dict) else c for c in colors[: len(classes)]]
        )
        meta = {**attrs(group).get("volseg", {}), "classes": list(classes)}
        if fractions is not None:
            meta["class_fractions"] = {
                c: float(f) for c, f in zip(classes, fractions, strict=False)
            }
        group.attrs.update({"ome": ome, "volseg": meta})

    # ------------------------------------------------------------- completeness
    @property
    def complete(self) -> bool:
        """True unless volseg started writing this store and never finished."""
        return bool(self.meta.get("complete", True)) and all(
            attrs(self.label_group(n)).get("volseg", {}).get("complete", True)
            for n in self.label_names
        )

    def update_meta(self, **values: Any) -> None:
        """Merge ``values`` into the store's ``volseg`` attributes."""
        meta = self.meta
        meta.update(values)
        self.group.attrs.update({"volseg": meta})

    def mark_complete(self, **values: Any) -> None:
        """Mark the store (and its label images) complete: call it after the last data write."""
        for name in self.label_names:
            lg = self.label_group(name)
            lg.attrs.update({"volseg": {**attrs(lg).get("volseg", {}), "complete": True}})
        self.update_meta(**values, complete=True)

    def require_complete(self) -> None:
        if not self.complete:
            raise IncompleteStoreError(
                f"{self.path} was never completely written (the job that made it was "
                "interrupted or failed); re-run it with --overwrite, or open it with "
                "allow_incomplete=True to read what is there"
            )
