"""Small building blocks shared by the generators."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import init


def scaled_kaiming_(modules: list[nn.Module], scale: float = 1.0) -> None:
    """Kaiming-normal init (fan_in) scaled by ``scale``, zero bias: the authors' initialisation.

    Residual branches use ``scale=0.1`` so that a deep trunk starts close to identity.
    """
    for module in modules:
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                init.kaiming_normal_(m.weight, a=0, mode="fan_in")
                m.weight.data.mul_(scale)
                if m.bias is not None:
                    m.bias.data.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                init.constant_(m.weight, 1)
                init.constant_(m.bias.data, 0.0)


class ResidualBlockNoBN(nn.Module):
    """conv-ReLU-conv plus identity, no BatchNorm (names ``conv1``/``conv2`` as the authors')."""

    def __init__(self, nf: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        self.conv2 = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        scaled_kaiming_([self.conv1, self.conv2], 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(torch.relu(self.conv1(x)))


def replica_forward(net: nn.Module, x: torch.Tensor, replicas: int = 1) -> torch.Tensor:
    """``net(x)`` as ``DataParallel`` over ``replicas`` GPUs computes it, on one device.

    DataParallel scatters the batch in ``x.chunk(replicas)`` pieces and each replica's
    BatchNorm normalises its own piece (the authors' 2 GPUs at batch 8: 4 samples each), so a
    train-mode BN network gives other outputs than on the whole batch. ``replicas=1`` is a
    plain call. Running BN statistics are updated chunk after chunk (DataParallel keeps those
    of the first replica only); a train-mode D or a momentum-0 Ranker never reads them.
    """
    if replicas <= 1 or x.shape[0] <= 1:
        return net(x)
    return torch.cat([net(c) for c in x.chunk(replicas)])
