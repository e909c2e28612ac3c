"""RankSRGAN's generator "SRResNet": 16 residual blocks without BN, two pixel-shuffle x2 steps.

Parameter names and forward follow the authors' code exactly (``conv_first``,
``recon_trunk.{i}.conv1/conv2``, ``LRconv``, ``upconv1``, ``upconv2``, ``HRconv``,
``conv_last``) so that their state dicts load unchanged. Not to be confused with mmsr's
``MSRResNet`` (LeakyReLU, bilinear global skip), which is a different network.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ranksrgan.archs.common import ResidualBlockNoBN, scaled_kaiming_
from ranksrgan.archs.registry import register


@register("srresnet")
class SRResNet(nn.Module):
    """x2/x3/x4 SRResNet generator (no BN, ReLU, no global skip)."""

    def __init__(
        self, in_nc: int = 3, out_nc: int = 3, nf: int = 64, nb: int = 16, upscale: int = 4
    ):
        super().__init__()
        if upscale not in (2, 3, 4):
            raise ValueError(f"srresnet: upscale must be 2, 3 or 4, got {upscale}")
        self.upscale = upscale
        self.nb = nb
        self.conv_first = nn.Conv2d(in_nc, nf, 3, 1, 1, bias=True)
        self.recon_trunk = nn.Sequential(*[ResidualBlockNoBN(nf) for _ in range(nb)])
        self.LRconv = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        if upscale == 4:
            self.upconv1 = nn.Conv2d(nf, nf * 4, 3, 1, 1, bias=True)
            self.upconv2 = nn.Conv2d(nf, nf * 4, 3, 1, 1, bias=True)
        else:
            self.upconv1 = nn.Conv2d(nf, nf * upscale**2, 3, 1, 1, bias=True)
        self.HRconv = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        self.conv_last = nn.Conv2d(nf, out_nc, 3, 1, 1, bias=True)
        init_list: list[nn.Module] = [self.conv_first, self.upconv1, self.HRconv, self.conv_last]
        if upscale == 4:
            init_list.append(self.upconv2)
        scaled_kaiming_(init_list, 0.1)

    @property
    def lr_context(self) -> int:
        """Receptive-field radius in LR pixels (3x3 convs: 1 px each at LR, 1/s at scale s)."""
        # conv_first + 2 per block + LRconv + upconv1 at LR; upconv2, HRconv, conv_last finer.
        at_lr = 1 + 2 * self.nb + 1 + 1
        return at_lr + 1  # the finer convs add < 1 LR pixel together; round up

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fea = self.conv_first(x)
        out = self.LRconv(self.recon_trunk(fea))
        if self.upscale == 4:
            out = F.relu(F.pixel_shuffle(self.upconv1(out + fea), 2))
            out = F.relu(F.pixel_shuffle(self.upconv2(out), 2))
        else:
            out = F.relu(F.pixel_shuffle(self.upconv1(out + fea), self.upscale))
        return self.conv_last(F.relu(self.HRconv(out)))
