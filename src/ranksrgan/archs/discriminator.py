"""VGG-style discriminators (SRGAN/ESRGAN/RankSRGAN) for 128x128 and 296x296 inputs.

Names as the authors' ``Discriminator_VGG_128``/``Discriminator_VGG_296``: ``conv{s}_{0,1}``,
``bn{s}_{0,1}`` (BN on every conv but the first; bias only on the first conv), then
``linear1`` (512 x h x w -> 100) and ``linear2`` (100 -> 1), LeakyReLU 0.2.

``init``: ``default`` (PyTorch's layer defaults, what the authors' current mmsr-based code
gets) or ``kaiming`` (Kaiming-normal fan-in x1, zero biases, BN weight 1 / bias 0: BasicSR's
``init_weights(netD, init_type='kaiming', scale=1)``, used by the authors' first commit and by
BasicSR's 2018 SRGAN). The discriminators also serve BasicSR's ``discriminator_vgg_128``
(batch norm, the same layers): ``discriminator_vgg128``.
"""

from __future__ import annotations

import torch
from torch import nn

from ranksrgan.archs.common import scaled_kaiming_
from ranksrgan.archs.registry import register
from ranksrgan.archs.vgg_blocks import add_vgg_layers, run_vgg_layers, vgg_spec
from ranksrgan.errors import RankSRGANError


class _DiscriminatorVGG(nn.Module):
    input_size = 0

    def __init__(self, in_nc: int = 3, nf: int = 64, init: str = "default"):
        super().__init__()
        if init not in ("default", "kaiming"):
            raise RankSRGANError(f"discriminator init must be default or kaiming, got '{init}'")
        self._order = add_vgg_layers(self, vgg_spec(in_nc, nf, "12"), conv_bias=False)
        side = self.input_size
        for _ in range(5):  # five 4x4 stride-2 pad-1 convs
            side = (side + 2 - 4) // 2 + 1
        self.linear1 = nn.Linear(nf * 8 * side * side, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        if init == "kaiming":
            scaled_kaiming_([self], 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(
                f"{type(self).__name__} expects {self.input_size}x{self.input_size} inputs, "
                f"got {tuple(x.shape[-2:])}"
            )
        fea = run_vgg_layers(self, self._order, x).flatten(1)
        return self.linear2(self.lrelu(self.linear1(fea)))


@register("discriminator_vgg128")
class DiscriminatorVGG128(_DiscriminatorVGG):
    """Discriminator for 128x128 patches (flatten 512x4x4)."""

    input_size = 128


@register("discriminator_vgg296")
class DiscriminatorVGG296(_DiscriminatorVGG):
    """Discriminator for 296x296 patches (flatten 512x9x9), RankSRGAN's."""

    input_size = 296
