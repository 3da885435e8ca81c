"""A small 2-D U-Net (plain torch) for the mask model of :mod:`cliniloop.models.image.segmenter`.

Encoder: ``depth + 1`` levels of two Conv3x3-BatchNorm-ReLU layers, ``width * 2**level``
channels, 2x2 max pooling between levels. Decoder: 2x2 transposed convolution (halving the
channels), concatenation with the encoder's skip connection, two Conv3x3-BatchNorm-ReLU layers.
A 1x1 convolution gives ``out_channels`` logits per pixel.

Any input size is accepted: :meth:`UNet.forward` pads height and width up to a multiple of
``2**depth`` (reflection, or replication when the input is too small to reflect) and crops the
logits back, so the output has the input's height and width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net: ``(N, in_channels, H, W)`` -> ``(N, out_channels, H, W)`` logits.

    Parameters
    ----------
    in_channels : int
        Input channels.
    out_channels : int
        Output channels (class logits).
    width : int
        Channels of the first level (doubled at every level down).
    depth : int
        Number of 2x down-samplings (the receptive field grows with it).
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 3, width: int = 16, depth: int = 4) -> None:
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"depth and width must be >= 1, got depth={depth}, width={width}")
        self.depth = depth
        chans = [width * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList([_block(in_channels, chans[0])])
        for i in range(1, depth + 1):
            self.down.append(_block(chans[i - 1], chans[i]))
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in range(depth, 0, -1):
            self.up.append(nn.ConvTranspose2d(chans[i], chans[i - 1], 2, stride=2))
            self.dec.append(_block(2 * chans[i - 1], chans[i - 1]))
        self.head = nn.Conv2d(chans[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = 2**self.depth
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            mode = "reflect" if (ph < h and pw < w) else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for up, dec in zip(self.up, self.dec, strict=True):
            x = dec(torch.cat([skips.pop(), up(x)], dim=1))
        return self.head(x)[..., :h, :w]
