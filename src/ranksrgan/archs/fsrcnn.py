"""FSRCNN (Dong et al., ECCV 2016): feature extraction, shrinking, mapping, expanding, deconv.

Runs on RGB here (``in_nc=3``) so that every method of the study shares one image policy;
the original paper works on Y only. Names follow the widely used PyTorch port
(``first_part``/``mid_part``/``last_part``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ranksrgan.archs.registry import register


@register("fsrcnn")
class FSRCNN(nn.Module):
    """FSRCNN(d, s, m) with PReLU and a 9x9 stride-``upscale`` transposed conv."""

    def __init__(
        self,
        in_nc: int = 3,
        out_nc: int = 3,
        d: int = 56,
        s: int = 12,
        m: int = 4,
        upscale: int = 4,
    ):
        super().__init__()
        self.upscale = upscale
        self.m = m
        self.first_part = nn.Sequential(nn.Conv2d(in_nc, d, 5, padding=2), nn.PReLU(d))
        mid: list[nn.Module] = [nn.Conv2d(d, s, 1), nn.PReLU(s)]
        for _ in range(m):
            mid.extend([nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)])
        mid.extend([nn.Conv2d(s, d, 1), nn.PReLU(d)])
        self.mid_part = nn.Sequential(*mid)
        self.last_part = nn.ConvTranspose2d(
            d, out_nc, 9, stride=upscale, padding=4, output_padding=upscale - 1
        )
        self._init_weights()

    def _init_weights(self) -> None:
        # The paper's Gaussian init: std sqrt(2 / fan_out) for convs, 1e-3 for the deconv.
        for m in list(self.first_part) + list(self.mid_part):
            if isinstance(m, nn.Conv2d):
                fan = m.out_channels * m.weight[0][0].numel()
                nn.init.normal_(m.weight, mean=0.0, std=math.sqrt(2 / fan))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.normal_(self.last_part.weight, mean=0.0, std=0.001)
        if self.last_part.bias is not None:
            nn.init.zeros_(self.last_part.bias)

    @property
    def lr_context(self) -> int:
        """Receptive-field radius in LR pixels: 5x5 (2) + m 3x3 (m) + 9x9 deconv (< 2) ."""
        return 2 + self.m + 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last_part(self.mid_part(self.first_part(x)))
