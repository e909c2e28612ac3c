"""The conv/BN/LeakyReLU trunk shared by the VGG-style discriminator and the Rankers.

Layers are named ``conv{stage}_{k}`` and ``bn{stage}_{k}`` like the authors' code; a spec
lists ``(name, in_ch, out_ch, kernel, stride, batchnorm)`` in forward order.
"""

from __future__ import annotations

import torch
from torch import nn

Spec = list[tuple[str, int, int, int, int, bool]]


def vgg_spec(in_nc: int, nf: int, depth: str) -> Spec:
    """Layer spec for ``depth`` in {"8", "12", "16"} (conv layer count + 2 linear layers).

    - 12 (the authors'): per stage a 3x3 s1 conv then a 4x4 s2 conv; channels nf x 1,2,4,8,8.
    - 8: the first stage as in 12, then only the 4x4 s2 convs (they change the channels).
    - 16: as 12 with a second 3x3 s1 conv in stages 1-4 (names ``conv{s}_0``, ``conv{s}_1``
      for the 3x3 convs and ``conv{s}_2`` for the strided one: forward order).
    """
    chans = [nf, nf * 2, nf * 4, nf * 8, nf * 8]
    spec: Spec = [("0_0", in_nc, nf, 3, 1, False), ("0_1", nf, nf, 4, 2, True)]
    for s in range(1, 5):
        cin, c = chans[s - 1], chans[s]
        if depth == "12":
            spec += [(f"{s}_0", cin, c, 3, 1, True), (f"{s}_1", c, c, 4, 2, True)]
        elif depth == "8":
            spec += [(f"{s}_1", cin, c, 4, 2, True)]
        elif depth == "16":
            spec += [
                (f"{s}_0", cin, c, 3, 1, True),
                (f"{s}_1", c, c, 3, 1, True),
                (f"{s}_2", c, c, 4, 2, True),
            ]
        else:
            raise ValueError(f"unknown VGG depth {depth}")
    return spec


def add_vgg_layers(module: nn.Module, spec: Spec, conv_bias: bool) -> list[tuple[str, bool]]:
    """Create ``conv*``/``bn*`` attributes on ``module``; return ``(suffix, has_bn)`` in order.

    The first conv always has a bias (it has no BN after it); ``conv_bias`` sets the others
    (False in the discriminator, True in the Ranker, as in the authors' code).
    """
    order = []
    for i, (suffix, cin, cout, k, s, bn) in enumerate(spec):
        bias = True if i == 0 else conv_bias
        setattr(module, f"conv{suffix}", nn.Conv2d(cin, cout, k, s, 1, bias=bias))
        if bn:
            setattr(module, f"bn{suffix}", nn.BatchNorm2d(cout, affine=True))
        order.append((suffix, bn))
    return order


def run_vgg_layers(
    module: nn.Module, order: list[tuple[str, bool]], x: torch.Tensor
) -> torch.Tensor:
    """Forward through the layers: conv, [BN], LeakyReLU 0.2 each."""
    for suffix, bn in order:
        x = getattr(module, f"conv{suffix}")(x)
        if bn:
            x = getattr(module, f"bn{suffix}")(x)
        x = getattr(module, "lrelu")(x)  # noqa: B009 (nn.Module attributes type as Tensor)
    return x
