"""Small building blocks shared by the segmentation networks."""

from __future__ import annotations

import itertools
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from volseg.errors import ConfigError

__all__ = ["ConvBNReLU", "DecoderStage", "EncoderStage", "SegmentationModel"]


class SegmentationModel(nn.Module):
    """Base class of volseg's networks: ``(N, C, H, W)`` images to ``(N, K, H, W)`` logits.

    Attributes
    ----------
    alignment : int
        Input height and width should be multiples of this (``2 ** number_of_poolings``)
        for the output to be independent of where a tile starts; the tiler respects it and
        :func:`volseg.models.predict_logits` pads other sizes to it.
    in_channels : int
        Channels of the input (1 for a single slice; >1 for 2.5D, neighbouring slices as
        channels).
    num_classes : int
        Channels of the output logits.
    encoder : tuple of str
        Names of the top-level modules that make up the encoder (what ``freeze="encoder"``
        freezes when fine-tuning).
    """

    alignment: ClassVar[int] = 1
    encoder: ClassVar[tuple[str, ...]] = ()
    in_channels: int
    num_classes: int


class ConvBNReLU(nn.Sequential):
    """3x3 convolution (with bias, padding 1) followed by BatchNorm and ReLU.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels in and out.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=True),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class EncoderStage(nn.Module):
    """``ConvBNReLU`` layers then a 2x2/stride-2 max-pool that also returns its indices.

    Parameters
    ----------
    channels : sequence of int
        ``[c_in, c_1, ..., c_n]``: ``n`` conv layers, the i-th mapping ``c_{i-1}`` to ``c_i``.

    Notes
    -----
    ``forward`` returns ``(pooled, indices, size)`` where ``size`` is the pre-pool spatial size
    that the matching :class:`DecoderStage` unpools back to, so odd sizes round-trip (the
    pool floors; the unpool leaves the lost last row/column zero).
    """

    def __init__(self, channels: list[int]) -> None:
        super().__init__()
        if len(channels) < 2:
            raise ConfigError(f"an encoder stage needs at least one conv, got channels={channels}")
        self.convs = nn.Sequential(*(ConvBNReLU(a, b) for a, b in itertools.pairwise(channels)))
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2, return_indices=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        x = self.convs(x)
        size = [x.shape[-2], x.shape[-1]]  # a list, not torch.Size: TorchScript compiles it
        pooled, indices = self.pool(x)
        return pooled, indices, size


class DecoderStage(nn.Module):
    """Max-unpool with the encoder's indices (to its pre-pool size), then ``ConvBNReLU`` layers.

    Parameters
    ----------
    channels : sequence of int
        ``[c_in, c_1, ..., c_n]`` as for :class:`EncoderStage`; ``n`` may be 0 (unpool only).
    """

    def __init__(self, channels: list[int]) -> None:
        super().__init__()
        self.convs = nn.Sequential(*(ConvBNReLU(a, b) for a, b in itertools.pairwise(channels)))

    def forward(self, x: torch.Tensor, indices: torch.Tensor, size: list[int]) -> torch.Tensor:
        # The function, not nn.MaxUnpool2d: that module does not compile with torch.jit.script.
        x = F.max_unpool2d(x, indices, kernel_size=[2, 2], stride=[2, 2], output_size=size)
        return self.convs(x)
