"""Rank-content loss: ``sum_over_batch(sigmoid(R(G(x)) - bias))`` with a frozen Ranker.

Lower Ranker output = better perceptual score (the Ranker is trained on NIQE-like labels where
lower is better), so minimising the sigmoid pushes G towards better-ranked outputs. The paper's
equation has a sign typo; this is the authors' code. The engine multiplies by the weight.

BatchNorm of the frozen Ranker: the authors' code never calls ``eval()`` on it, so its BN
layers normalise with the statistics of the current generator batch (``bn_mode="batch"``).
``bn_mode="eval"`` uses the Ranker's running statistics instead. In ``batch`` mode we also set
the BN momentum to 0 so that the frozen Ranker's buffers really stay frozen (the authors' code
lets them drift, which does not change any output since they are never read).

``replicas``: the authors ran 2-GPU DataParallel, so in ``batch`` mode each GPU's Ranker BN saw
half of the batch (4 of 8 samples); ``replicas=2`` runs the Ranker on ``batch / 2`` chunks, each
normalised on its own (:func:`ranksrgan.archs.common.replica_forward`).
"""

from __future__ import annotations

import torch
from torch import nn

from ranksrgan.archs.common import replica_forward
from ranksrgan.errors import RankSRGANError
from ranksrgan.losses.registry import register_loss


@register_loss("rank_content")
class RankContentLoss(nn.Module):
    """Frozen-Ranker loss on generator outputs in [0, 1] RGB."""

    def __init__(
        self, ranker: nn.Module, bias: float = 0.0, bn_mode: str = "batch", replicas: int = 1
    ):
        super().__init__()
        if bn_mode not in ("batch", "eval"):
            raise RankSRGANError(f"rank_content: bn_mode must be batch or eval, got '{bn_mode}'")
        if replicas < 1:
            raise RankSRGANError(f"rank_content: replicas must be >= 1, got {replicas}")
        self.replicas = int(replicas)
        self.ranker = ranker
        self.bias = float(bias)
        self.bn_mode = bn_mode
        for p in self.ranker.parameters():
            p.requires_grad_(False)
        if bn_mode == "batch":
            for m in self.ranker.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.momentum = 0.0
        self.train(True)

    def train(self, mode: bool = True) -> RankContentLoss:
        super().train(mode)
        self.ranker.train(self.bn_mode == "batch")
        return self

    def forward(self, sr: torch.Tensor) -> torch.Tensor:
        score = replica_forward(self.ranker, sr, self.replicas).float()
        return torch.sigmoid(score - self.bias).sum()
