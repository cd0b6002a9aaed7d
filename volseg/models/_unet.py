"""A small 4-level U-Net (Ronneberger et al. 2015), as a comparison to SegNet."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from volseg.models._blocks import ConvBNReLU, SegmentationModel
from volseg.models._segnet import _check_positive

__all__ = ["UNet", "unet_small"]

_LEVELS = 4


class UNet(SegmentationModel):
    """U-Net with 4 poolings: double ``ConvBNReLU`` blocks, transposed-conv upsampling, skips.

    Parameters
    ----------
    in_channels : int
        Input channels (``> 1``: 2.5D input, neighbouring slices as channels).
    num_classes : int
        Output logit channels.
    width : int
        Channels of the first level; levels have ``w, 2w, 4w, 8w`` and the bottleneck ``16w``.

    Notes
    -----
    ``alignment`` is 16 (``2 ** 4``). ``forward`` accepts any ``H, W >= 16``: when a pooled
    size was odd the upsampled map is zero-padded at the bottom/right to the skip's size.
    """

    alignment: ClassVar[int] = 2**_LEVELS
    encoder: ClassVar[tuple[str, ...]] = ("down", "bottleneck")

    def __init__(self, *, in_channels: int = 1, num_classes: int = 2, width: int = 16) -> None:
        super().__init__()
        _check_positive(in_channels=in_channels, num_classes=num_classes, width=width)
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.width = width
        chans = [width * 2**i for i in range(_LEVELS + 1)]
        self.down = nn.ModuleList()
        prev = in_channels
        for c in chans[:-1]:
            self.down.append(nn.Sequential(ConvBNReLU(prev, c), ConvBNReLU(c, c)))
            prev = c
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.bottleneck = nn.Sequential(
            ConvBNReLU(prev, chans[-1]), ConvBNReLU(chans[-1], chans[-1])
        )
        self.upsample = nn.ModuleList()
        self.up = nn.ModuleList()
        for i in reversed(range(_LEVELS)):
            self.upsample.append(nn.ConvTranspose2d(chans[i + 1], chans[i], 2, stride=2))
            self.up.append(
                nn.Sequential(ConvBNReLU(2 * chans[i], chans[i]), ConvBNReLU(chans[i], chans[i]))
            )
        self.classifier = nn.Conv2d(width, num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes, H, W)`` of images ``(N, in_channels, H, W)``."""
        skips: list[torch.Tensor] = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        # Indexing, not zip(reversed(...)): the forward compiles with torch.jit.script.
        for i, (upsample, block) in enumerate(zip(self.upsample, self.up)):  # noqa: B905
            skip = skips[len(skips) - 1 - i]
            x = upsample(x)
            dh, dw = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
            if dh or dw:
                x = F.pad(x, (0, dw, 0, dh))
            x = block(torch.cat([skip, x], dim=1))
        return self.classifier(x)


def unet_small(*, in_channels: int = 1, num_classes: int = 2, width: int = 16) -> UNet:
    """Build a small :class:`UNet` (width 16: 1,943,778 parameters for 1 channel, 2 classes).

    Parameters
    ----------
    in_channels : int, default 1
        Input channels; ``> 1`` means 2.5D input.
    num_classes : int, default 2
        Output logit channels.
    width : int, default 16
        First-level channels.

    Returns
    -------
    UNet

    Raises
    ------
    ConfigError
        If an argument is not a positive integer.
    """
    return UNet(in_channels=in_channels, num_classes=num_classes, width=width)
