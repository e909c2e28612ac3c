"""Rankers: VGG-8/12/16 networks scoring a 296x296 patch (lower = perceptually better).

VGG-12 is the authors' ``Ranker_VGG12_296``: the discriminator's conv pairs but every conv
has a bias, BN on all but the first conv, LeakyReLU 0.2, global average pooling, and
``classifier`` = Linear(512, 100), LeakyReLU 0.2, Linear(100, 1). The 8 and 16 variants
(supplement Table 2) drop / add a 3x3 conv per stage; their names follow the same scheme.
Global pooling makes them accept any input size, but they were designed for 296 patches.
"""

from __future__ import annotations

import torch
from torch import nn

from ranksrgan.archs.registry import register
from ranksrgan.archs.vgg_blocks import add_vgg_layers, run_vgg_layers, vgg_spec


class _RankerVGG(nn.Module):
    depth = "12"

    def __init__(self, in_nc: int = 3, nf: int = 64):
        super().__init__()
        self._order = add_vgg_layers(self, vgg_spec(in_nc, nf, self.depth), conv_bias=True)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(nf * 8, 100),
            nn.LeakyReLU(negative_slope=0.2, inplace=True),
            nn.Linear(100, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fea = self.avgpool(run_vgg_layers(self, self._order, x)).flatten(1)
        return self.classifier(fea)


@register("ranker_vgg8")
class RankerVGG8(_RankerVGG):
    """Six convs + two linear layers (supplement: 7,069K parameters)."""

    depth = "8"


@register("ranker_vgg12")
class RankerVGG12(_RankerVGG):
    """The authors' Ranker (10 convs + 2 linear; supplement: 13,734K parameters)."""

    depth = "12"


@register("ranker_vgg16")
class RankerVGG16(_RankerVGG):
    """Fourteen convs + two linear layers (supplement: 19,194K parameters)."""

    depth = "16"
