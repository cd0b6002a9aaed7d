"""SegNet (Badrinarayanan, Kendall & Cipolla, TPAMI 2017) with a VGG16-style encoder."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from volseg.errors import ConfigError
from volseg.models._blocks import DecoderStage, EncoderStage, SegmentationModel

__all__ = ["SegNet", "segnet"]

# Convs per encoder stage (VGG16) and channel multiples of ``width`` per stage.
_CONVS = (2, 2, 3, 3, 3)
_MULT = (1, 2, 4, 8, 8)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")


class SegNet(SegmentationModel):
    """SegNet: VGG16-style encoder, max-unpooling decoder, 3x3 conv to class logits.

    Parameters
    ----------
    in_channels : int
        Input channels. 1 is a single slice; ``k > 1`` is 2.5D input, ``k`` neighbouring
        slices stacked as channels: only the first convolution changes.
    num_classes : int
        Output channels (logits; no softmax).
    width : int
        Channels of the first stage; the stages have ``w, 2w, 4w, 8w, 8w``.

    Notes
    -----
    Encoder: 13 ``ConvBNReLU`` (3x3 conv with bias, BatchNorm, ReLU) in 5 stages of
    2, 2, 3, 3, 3 convs, each ending in a 2x2/stride-2 max-pool whose indices are kept.

    Decoder, mirrored: each stage max-unpools with its encoder stage's indices back to the
    pre-pool size, then ``ConvBNReLU`` layers, the last of which maps to the channels of the
    next-shallower stage: ``8w→8w ×3``, ``8w→8w ×2, 8w→4w``, ``4w→4w ×2, 4w→2w``,
    ``2w→2w, 2w→w``, ``w→w``. A final 3x3 conv with bias and *no* BatchNorm or ReLU maps
    ``w`` to ``num_classes``. With ``width=64``, one input channel and two classes this is
    29,443,010 parameters, the count of MATLAB's VGG16 SegNet.

    ``forward`` accepts any ``H, W >= 32``: pooling floors and unpooling restores the
    pre-pool size, so odd sizes work. Only multiples of :attr:`alignment` (32) give output
    that does not depend on where a tile starts; :func:`volseg.models.predict_logits`
    pads other sizes to the alignment and crops the logits back.
    """

    alignment: ClassVar[int] = 2 ** len(_CONVS)
    encoder: ClassVar[tuple[str, ...]] = ("encoders",)

    def __init__(self, *, in_channels: int = 1, num_classes: int = 2, width: int = 64) -> None:
        super().__init__()
        _check_positive(in_channels=in_channels, num_classes=num_classes, width=width)
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.width = width
        chans = [width * m for m in _MULT]
        encoders: list[EncoderStage] = []
        prev = in_channels
        for n, c in zip(_CONVS, chans, strict=True):
            encoders.append(EncoderStage([prev] + [c] * n))
            prev = c
        self.encoders = nn.ModuleList(encoders)
        decoders: list[DecoderStage] = []
        for i in reversed(range(len(_CONVS))):
            c = chans[i]
            out = chans[i - 1] if i > 0 else width
            # Stage 1's decoder has a single w→w conv; the classifier below is its second.
            n = _CONVS[i] if i > 0 else _CONVS[i] - 1
            decoders.append(DecoderStage([c] * n + [out]))
        self.decoders = nn.ModuleList(decoders)
        self.classifier = nn.Conv2d(width, num_classes, kernel_size=3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes, H, W)`` of images ``(N, in_channels, H, W)``."""
        skips: list[tuple[torch.Tensor, list[int]]] = []
        for enc in self.encoders:
            x, indices, size = enc(x)
            skips.append((indices, size))
        # Indexing, not zip(reversed(...)): the forward compiles with torch.jit.script.
        for i, dec in enumerate(self.decoders):
            indices, size = skips[len(skips) - 1 - i]
            x = dec(x, indices, size)
        return self.classifier(x)


def segnet(*, in_channels: int = 1, num_classes: int = 2, width: int = 64) -> SegNet:
    """Build a :class:`SegNet` (freshly initialised, PyTorch default init, train mode).

    Parameters
    ----------
    in_channels : int, default 1
        Input channels; ``> 1`` means 2.5D input (neighbouring slices as channels).
    num_classes : int, default 2
        Output logit channels.
    width : int, default 64
        First-stage channels. 64 is the paper's VGG16 SegNet (29,443,010 parameters for
        1 channel, 2 classes); 16 is the CPU-friendly "segnet-lite" (1,844,978).

    Returns
    -------
    SegNet

    Raises
    ------
    ConfigError
        If an argument is not a positive integer.

    Examples
    --------
    >>> model = segnet(in_channels=1, num_classes=2, width=16)
    >>> model.alignment
    32
    """
    return SegNet(in_channels=in_channels, num_classes=num_classes, width=width)
