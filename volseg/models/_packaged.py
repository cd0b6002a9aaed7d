"""The network a bioimage.io package of volseg runs: class probabilities, prior-corrected."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from volseg.errors import ConfigError
from volseg.models._blocks import SegmentationModel
from volseg.models._registry import build_model

__all__ = ["ClassProbabilities", "bioimageio_network"]


class ClassProbabilities(nn.Module):
    """``softmax(network(x) + logit_offsets)`` over the class axis.

    The offsets undo class weighting (see :func:`volseg.train.logit_offsets`), so the
    probabilities estimate ``p(class | x)`` and their argmax is the label volseg decides.

    Parameters
    ----------
    network : SegmentationModel
        The segmentation network; its state dict is this module's state dict
        (:meth:`load_state_dict` loads into it), so a checkpoint's weight file loads as is.
    logit_offsets : sequence of float, optional
        One per class; zeros when ``None``.

    Raises
    ------
    ConfigError
        If there is not one offset per class.
    """

    def __init__(
        self, network: SegmentationModel, logit_offsets: Sequence[float] | None = None
    ) -> None:
        super().__init__()
        k = network.num_classes
        offsets = [0.0] * k if logit_offsets is None else [float(v) for v in logit_offsets]
        if len(offsets) != k:
            raise ConfigError(
                f"logit_offsets has {len(offsets)} values for a model of {k} classes; give "
                "one per class (a checkpoint's metadata['logit_offsets'])"
            )
        self.network = network
        self.alignment = network.alignment
        self.in_channels, self.num_classes = network.in_channels, k
        self.register_buffer("offsets", torch.tensor(offsets).view(1, k, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities ``(N, num_classes, H, W)`` of images ``(N, in_channels, H, W)``."""
        return torch.softmax(self.network(x) + self.offsets, dim=1)

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> Any:
        """Load the network's weights (a volseg checkpoint's state dict, unprefixed)."""
        return self.network.load_state_dict(state_dict, strict=strict, assign=assign)


def bioimageio_network(
    *,
    architecture: str,
    arguments: dict[str, Any],
    logit_offsets: Sequence[float] | None = None,
) -> ClassProbabilities:
    """Build the module a bioimage.io package's ``pytorch_state_dict`` weights load into.

    bioimage.io tools call it with the package's ``architecture.kwargs``, then load the
    weights file with ``load_state_dict``.

    Parameters
    ----------
    architecture : str
        Registry name (see :func:`volseg.models.available_models`).
    arguments : dict
        The factory's keyword arguments, as stored in the checkpoint.
    logit_offsets : sequence of float, optional
        The checkpoint's ``logit_offsets``.

    Returns
    -------
    ClassProbabilities
        Freshly initialised, in train mode (tools switch it to eval).

    Raises
    ------
    ConfigError
        Unknown architecture, arguments it does not take, or offsets of the wrong length.
    """
    return ClassProbabilities(build_model(architecture, **arguments), logit_offsets)
