"""ESRGAN's generator RRDBNet (23 Residual-in-Residual Dense Blocks), authors' names.

Names: ``conv_first``, ``RRDB_trunk.{i}.RDB{1,2,3}.conv{1..5}``, ``trunk_conv``,
``upconv1``, ``upconv2``, ``HRconv``, ``conv_last``. Other published layouts (the original
``model.N`` one, BasicSR/Real-ESRGAN names) are mapped by :mod:`ranksrgan.weights`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ranksrgan.archs.common import scaled_kaiming_
from ranksrgan.archs.registry import register


class ResidualDenseBlock5C(nn.Module):
    """Five densely connected 3x3 convs; output ``x5 * 0.2 + x``."""

    def __init__(self, nf: int = 64, gc: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, gc, 3, 1, 1, bias=True)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, 1, 1, bias=True)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, 1, 1, bias=True)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, 1, 1, bias=True)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1, bias=True)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        scaled_kaiming_([self.conv1, self.conv2, self.conv3, self.conv4, self.conv5], 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    """Three dense blocks in a residual: ``out * 0.2 + x``."""

    def __init__(self, nf: int = 64, gc: int = 32):
        super().__init__()
        self.RDB1 = ResidualDenseBlock5C(nf, gc)
        self.RDB2 = ResidualDenseBlock5C(nf, gc)
        self.RDB3 = ResidualDenseBlock5C(nf, gc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.RDB3(self.RDB2(self.RDB1(x)))
        return out * 0.2 + x


@register("rrdbnet")
class RRDBNet(nn.Module):
    """x4 RRDBNet: trunk at LR, nearest x2 upsampling twice, LeakyReLU 0.2."""

    def __init__(
        self,
        in_nc: int = 3,
        out_nc: int = 3,
        nf: int = 64,
        nb: int = 23,
        gc: int = 32,
        upscale: int = 4,
    ):
        super().__init__()
        if upscale != 4:
            raise ValueError(f"rrdbnet: only upscale 4 is implemented, got {upscale}")
        self.upscale = upscale
        self.nb = nb
        self.conv_first = nn.Conv2d(in_nc, nf, 3, 1, 1, bias=True)
        self.RRDB_trunk = nn.Sequential(*[RRDB(nf, gc) for _ in range(nb)])
        self.trunk_conv = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        self.upconv1 = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        self.upconv2 = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        self.HRconv = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        self.conv_last = nn.Conv2d(nf, out_nc, 3, 1, 1, bias=True)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    @property
    def lr_context(self) -> int:
        """Receptive-field radius in LR pixels: conv_first + 15 per RRDB + trunk_conv, plus < 2."""
        return 1 + 15 * self.nb + 1 + 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fea = self.conv_first(x)
        fea = fea + self.trunk_conv(self.RRDB_trunk(fea))
        fea = self.lrelu(self.upconv1(F.interpolate(fea, scale_factor=2, mode="nearest")))
        fea = self.lrelu(self.upconv2(F.interpolate(fea, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.HRconv(fea)))
