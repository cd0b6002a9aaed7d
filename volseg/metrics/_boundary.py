"""Inner boundary of a binary mask (MATLAB ``bwperim`` with 4- / 6-connectivity)."""

from __future__ import annotations

import numpy as np

from volseg.metrics import _kernels
from volseg.metrics._validate import as_mask


def boundary(mask: object) -> np.ndarray:
    """Inner boundary of a 2D or 3D mask: the mask minus its erosion by the cross.

    Parameters
    ----------
    mask : array_like
        2D or 3D mask, bool or 0/1.

    Returns
    -------
    numpy.ndarray of bool
        Same shape; True on foreground pixels that have at least one background
        4-neighbour (2D, 3x3 cross) or 6-neighbour (3D, 3x3x3 cross).

    Raises
    ------
    InputError
        ``mask`` is not 2D/3D, or holds values other than 0/1 (or NaN).

    Notes
    -----
    Everything outside the array counts as background, so an object touching the image
    edge has boundary along the edge, and a mask that is all foreground has its outer
    ring as boundary. One-pixel-wide lines and isolated pixels are all boundary. This is
    MATLAB's ``bwperim`` with its default connectivity, which ``bfscore`` uses.

    Examples
    --------
    >>> import numpy as np
    >>> from volseg.metrics import boundary
    >>> m = np.zeros((5, 5), bool)
    >>> m[1:4, 1:4] = True
    >>> boundary(m).astype(int)
    array([[0, 0, 0, 0, 0],
           [0, 1, 1, 1, 0],
           [0, 1, 0, 1, 0],
           [0, 1, 1, 1, 0],
           [0, 0, 0, 0, 0]])
    """
    m = as_mask(mask, "mask", (2, 3))
    return _boundary(m)


def _boundary(m: np.ndarray) -> np.ndarray:
    """Boundary of a validated, contiguous bool mask (2D or 3D)."""
    with _kernels.threads_for(m.size):
        out: np.ndarray = _kernels.boundary_2d(m) if m.ndim == 2 else _kernels.boundary_3d(m)
    return out
