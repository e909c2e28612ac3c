"""Pixel losses: L1 and L2 (MSE), mean over all elements as the authors' code does."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ranksrgan.losses.registry import register_loss


@register_loss("l1")
class L1Loss(nn.Module):
    """Mean absolute error."""

    def forward(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(x.float(), ref.float())


@register_loss("l2", "mse")
class L2Loss(nn.Module):
    """Mean squared error (the ``L_M`` term of the paper's Table 7)."""

    def forward(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(x.float(), ref.float())
