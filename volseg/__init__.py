"""volseg: large-volume streaming segmentation of tomography volumes."""

from volseg._version import __version__

__all__ = ["__version__"]
