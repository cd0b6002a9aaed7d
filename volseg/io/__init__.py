"""OME-Zarr 0.5 volume stores: create, ingest, open as xarray, provenance, completeness."""

from volseg.io._info import describe, format_info
from volseg.io._ingest import GROUND_TRUTH, ingest
from volseg.io._layout import default_chunks
from volseg.io._link import derived_store, link_tree
from volseg.io._provenance import provenance
from volseg.io._pyramid import build_pyramid, downsample
from volseg.io._read import read_box, read_selection
from volseg.io._sources import SliceSource, open_source
from volseg.io._store import VolumeStore
from volseg.io._strict import StrictArray, as_strict, strict_image, strict_labels
from volseg.io._verify import ChunkDamage, DigestCheck, VerifyReport, verify_store
from volseg.io._xarray import open_labels, open_volume

__all__ = [
    "GROUND_TRUTH",
    "ChunkDamage",
    "DigestCheck",
    "SliceSource",
    "StrictArray",
    "VerifyReport",
    "VolumeStore",
    "as_strict",
    "build_pyramid",
    "default_chunks",
    "derived_store",
    "describe",
    "downsample",
    "format_info",
    "ingest",
    "link_tree",
    "open_labels",
    "open_source",
    "open_volume",
    "provenance",
    "read_box",
    "read_selection",
    "strict_image",
    "strict_labels",
    "verify_store",
]
