"""Slice sources for ingest: a folder of 2D TIFF/PNG slices, a multipage TIFF, .npy, zarr.

A source is scanned once (headers only: names, shape, dtype) so that most bad input is
refused before anything is written; :meth:`SliceSource.read` then decodes one slice, checks
it and returns it as a 2D grey array. Every error names the file (and slice) at fault.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import tifffile
import zarr
from PIL import Image

from volseg.errors import CorruptInputError, InputError, InputNotFoundError
from volseg.io._read import Kind, read_selection
from volseg.io._store import attrs

SUPPORTED_DTYPES = ("uint8", "uint16", "float32")
SLICE_SUFFIXES = (".tif", ".tiff", ".png")
TIFF_SUFFIXES = (".tif", ".tiff")
#: PIL modes and the dtype they decode to.
_PIL_DTYPES = {
    "1": "bool",
    "L": "uint8",
    "LA": "uint8",
    "P": "uint8",
    "RGB": "uint8",
    "RGBA": "uint8",
    "I;16": "uint16",
    "I;16B": "uint16",
    "I;16L": "uint16",
    "I": "int32",
    "F": "float32",
}

Role = Literal["image", "labels"]


def natural_key(name: str) -> list[object]:
    """Sort key that orders ``s2`` before ``s10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _fix_for(role: Role) -> str:
    if role == "labels":
        return "save labels as 8- or 16-bit unsigned integers"
    return f"convert the data to one of {', '.join(SUPPORTED_DTYPES)}"


def to_grey(arr: np.ndarray, where: str) -> np.ndarray:
    """Reduce an (Y, X, C) slice to grey when its colour channels are equal."""
    if arr.ndim == 2:
        return arr
    if arr.ndim == 3 and arr.shape[-1] in (2, 3, 4):
        colour = arr[..., :3] if arr.shape[-1] >= 3 else arr[..., :1]
        if not all(
            np.array_equal(colour[..., 0], colour[..., c]) for c in range(1, colour.shape[-1])
        ):
            raise InputError(
                f"{where} is a true-colour image (its red, green and blue channels differ); "
                "volseg ingests grey tomography slices: convert it to greyscale first"
            )
        return np.ascontiguousarray(colour[..., 0])
    raise InputError(f"{where} has shape {arr.shape}; expected a 2D grey slice (Y, X)")


def check_slice(arr: np.ndarray, where: str, *, role: Role, shape: tuple[int, int]) -> np.ndarray:
    """Validate a decoded slice (shape, dtype, finiteness) and return it in its store dtype."""
    arr = to_grey(np.asarray(arr), where)
    if arr.shape != shape:
        raise InputError(
            f"{where} has shape {arr.shape}, the other slices have {shape}: "
            "all slices of a volume must have the same size"
        )
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if arr.dtype == np.int32:
        # 16-bit PNGs decode to int32 in some Pillow versions; they fit uint16.
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise InputError(f"{where} holds 32-bit values outside 0..65535; {_fix_for(role)}")
        arr = arr.astype(np.uint16)
    if role == "labels":
        if arr.dtype.kind != "u" or arr.dtype.itemsize > 2:
            raise InputError(
                f"{where} has dtype {arr.dtype}: labels must be integer class ids; {_fix_for(role)}"
            )
    elif arr.dtype.name not in SUPPORTED_DTYPES:
        raise InputError(
            f"{where} has dtype {arr.dtype}, which volseg does not store; {_fix_for(role)}"
        )
    elif arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise InputError(
            f"{where} has non-finite values (NaN or inf), first at (y={bad[0]}, x={bad[1]}); "
            "replace them (e.g. with 0) before ingesting"
        )
    return arr


def _store_dtype(dtype: str, where: str, role: Role) -> np.dtype:
    dt = {"bool": "uint8", "int32": "uint16"}.get(dtype, dtype)
    ok = ("uint8", "uint16") if role == "labels" else SUPPORTED_DTYPES
    if dt not in ok:
        raise InputError(
            f"{where} has dtype {dtype}, which volseg cannot ingest as {role}; {_fix_for(role)}"
        )
    return np.dtype(dt)


class SliceSource(ABC):
    """A stack of 2D slices with known shape and dtype."""

    kind: str

    def __init__(
        self,
        path: Path,
        names: Sequence[str],
        shape: tuple[int, int, int],
        dtype: np.dtype,
        role: Role,
    ) -> None:
        self.path, self.names, self.shape, self.dtype, self.role = (
            path,
            list(names),
            shape,
            dtype,
            role,
        )

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, z: int) -> np.ndarray:
        """Decode slice ``z`` and return it checked, 2D, in :attr:`dtype`."""
        where = self.names[z]
        try:
            raw = self._read(z)
        except InputError:
            raise
        except Exception as exc:  # decoders raise many types for broken files
            raise CorruptInputError(
                f"{where} could not be read ({type(exc).__name__}: {exc}); the file is "
                "unreadable or truncated: re-export or re-copy it"
            ) from exc
        arr = check_slice(raw, where, role=self.role, shape=self.shape[1:])
        if arr.dtype != self.dtype:
            raise InputError(
                f"{where} has dtype {arr.dtype}, the other slices have {self.dtype}: "
                "all slices of a volume must have the same dtype"
            )
        return arr

    @abstractmethod
    def _read(self, z: int) -> np.ndarray: ...


def _header(path: Path) -> tuple[tuple[int, ...], str]:
    """(shape, dtype) of a 2D slice file from its header, without decoding pixels."""
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            with tifffile.TiffFile(path) as tf:
                if len(tf.pages) != 1:
                    raise InputError(
                        f"{path} has {len(tf.pages)} pages; a folder must hold one "
                        "2D slice per file (ingest a multipage TIFF directly)"
                    )
                page = tf.pages[0]
                return tuple(page.shape), np.dtype(page.dtype).name
        with Image.open(path) as im:
            if im.mode not in _PIL_DTYPES:
                raise InputError(f"{path} has image mode {im.mode}, which volseg cannot ingest")
            channels = len(im.getbands())
            shape = (im.height, im.width) + ((channels,) if channels > 1 else ())
            return shape, _PIL_DTYPES[im.mode]
    except InputError:
        raise
    except Exception as exc:
        raise CorruptInputError(
            f"{path} is not a readable TIFF/PNG image ({type(exc).__name__}: {exc})"
        ) from exc


class FolderSource(SliceSource):
    kind = "slices"

    def __init__(self, path: Path, role: Role) -> None:
        files = sorted(
            (
                p
                for p in path.iterdir()
                if p.is_file() and p.suffix.lower() in SLICE_SUFFIXES and not p.name.startswith(".")
            ),
            key=lambda p: natural_key(p.name),
        )
        if not files:
            raise InputNotFoundError(
                f"{path} holds no TIFF or PNG slices (looked for {', '.join(SLICE_SUFFIXES)})"
            )
        self.files = files
        shape0, dtype0 = _header(files[0])
        for f in files[1:]:
            shape, dtype = _header(f)
            if shape[:2] != shape0[:2]:
                raise InputError(
                    f"{f} is {shape[1]} x {shape[0]} px but {files[0].name} is "
                    f"{shape0[1]} x {shape0[0]} px: all slices must have one size"
                )
            if dtype != dtype0:
                raise InputError(
                    f"{f} has dtype {dtype} but {files[0].name} has {dtype0}: "
                    "all slices of a volume must have one dtype"
                )
        dt = _store_dtype(dtype0, str(files[0]), role)
        super().__init__(path, [str(f) for f in files], (len(files), *shape0[:2]), dt, role)  # type: ignore[arg-type]

    def _read(self, z: int) -> np.ndarray:
        f = self.files[z]
        if f.suffix.lower() in TIFF_SUFFIXES:
            return tifffile.imread(f)
        with Image.open(f) as im:
            return np.asarray(im.convert("RGB") if im.mode == "P" else im)


class TiffStackSource(SliceSource):
    kind = "multipage-tiff"

    def __init__(self, path: Path, role: Role) -> None:
        try:
            with tifffile.TiffFile(path) as tf:
                series = tf.series[0]
                shape, dtype, axes = tuple(series.shape), np.dtype(series.dtype).name, series.axes
        except Exception as exc:
            raise CorruptInputError(
                f"{path} is not a readable TIFF ({type(exc).__name__}: {exc})"
            ) from exc
        if axes.endswith("S"):  # colour samples: checked per slice by to_grey
            shape = shape[:-1]
        if len(shape) == 2:
            shape = (1, *shape)
        if len(shape) != 3:
            raise InputError(
                f"{path} holds an array of shape {shape} (axes {axes}); "
                "expected a stack of 2D slices (Z, Y, X)"
            )
        dt = _store_dtype(dtype, str(path), role)
        super().__init__(path, [f"{path} page {i}" for i in range(shape[0])], shape, dt, role)

    def _read(self, z: int) -> np.ndarray:
        return tifffile.imread(self.path, key=z)


class ArraySource(SliceSource):
    """A 3D .npy file (memory-mapped) or zarr array / OME-Zarr image."""

    def __init__(self, path: Path, role: Role) -> None:
        if path.suffix.lower() == ".npy":
            try:
                self.array = np.load(path, mmap_mode="r")
            except Exception as exc:
                raise CorruptInputError(f"{path} is not a readable .npy file ({exc})") from exc
            self.kind = "npy"
        else:
            self.array = _open_zarr_array(path)
            self.kind = "zarr"
        shape = tuple(self.array.shape)
        if len(shape) == 2:
            shape = (1, *shape)
        if len(shape) != 3:
            raise InputError(f"{path} holds an array of shape {shape}; expected (Z, Y, X)")
        dt = _store_dtype(np.dtype(self.array.dtype).name, str(path), role)
        super().__init__(path, [f"{path} slice {i}" for i in range(shape[0])], shape, dt, role)

    def _read(self, z: int) -> np.ndarray:
        a = self.array
        key = (slice(None), slice(None)) if a.ndim == 2 else z
        if not isinstance(a, zarr.Array):  # a .npy file
            return np.asarray(a[key])
        # A foreign array may omit chunks holding only its fill value (zarr's default), so
        # a missing chunk reads as that; a corrupt one is an error naming its key.
        kind: Kind = "labels" if self.role == "labels" else "image"
        return read_selection(a, key, kind=kind, fill_missing=True)


def _open_zarr_array(path: Path) -> zarr.Array:
    try:
        node = zarr.open(path, mode="r")
    except Exception as exc:
        raise CorruptInputError(f"{path} is not a readable zarr array ({exc})") from exc
    if isinstance(node, zarr.Array):
        return node
    meta = attrs(node)
    ms = meta.get("ome", meta).get("multiscales")
    if ms:
        return node[ms[0]["datasets"][0]["path"]]  # type: ignore[return-value]
    raise InputError(f"{path} is a zarr group without OME multiscales; point at an array inside it")


def open_source(path: str | Path, *, role: Role = "image") -> SliceSource:
    """Open a slice stack: a folder of TIFF/PNG slices, a (multipage) TIFF, .npy or zarr."""
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path} does not exist")
    if path.is_dir() and not (path / "zarr.json").exists() and not (path / ".zarray").exists():
        return FolderSource(path, role)
    if path.suffix.lower() in TIFF_SUFFIXES:
        return TiffStackSource(path, role)
    if path.suffix.lower() == ".npy" or path.is_dir():
        return ArraySource(path, role)
    raise InputError(
        f"{path}: unsupported input; give a folder of TIFF/PNG slices, a "
        "multipage TIFF, a .npy file or a zarr array"
    )
