"""Adversarial losses on discriminator logits.

``vanilla`` (SRGAN / RankSRGAN, ``BCEWithLogits``), ``ragan`` (relativistic average, ESRGAN),
``lsgan``. Conventions follow the authors' code: vanilla D loss is ``real + fake`` (summed),
RaGAN losses are the mean of the two relativistic terms.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ranksrgan.errors import RankSRGANError
from ranksrgan.losses.registry import register_loss


def _target_loss(kind: str, pred: torch.Tensor, real: bool) -> torch.Tensor:
    pred = pred.float()
    target = torch.ones_like(pred) if real else torch.zeros_like(pred)
    if kind == "lsgan":
        return F.mse_loss(pred, target)
    return F.binary_cross_entropy_with_logits(pred, target)


@register_loss("gan")
class GANLoss(nn.Module):
    """Generator and discriminator adversarial losses of one ``kind``."""

    def __init__(self, kind: str = "vanilla"):
        super().__init__()
        if kind not in ("vanilla", "ragan", "lsgan"):
            raise RankSRGANError(f"gan loss: kind must be vanilla, ragan or lsgan, got '{kind}'")
        self.kind = kind

    @property
    def needs_real_for_generator(self) -> bool:
        """Whether the generator loss uses D(real) (relativistic losses do)."""
        return self.kind == "ragan"

    def generator(self, pred_fake: torch.Tensor, pred_real: torch.Tensor | None = None):
        """Adversarial loss of G; ``pred_real`` (detached) is needed for ``ragan``."""
        if self.kind == "ragan":
            if pred_real is None:
                raise RankSRGANError("ragan generator loss needs D(real)")
            pred_real = pred_real.detach()
            return 0.5 * (
                _target_loss(self.kind, pred_real - pred_fake.mean(), False)
                + _target_loss(self.kind, pred_fake - pred_real.mean(), True)
            )
        return _target_loss(self.kind, pred_fake, True)

    def discriminator(self, pred_real: torch.Tensor, pred_fake: torch.Tensor) -> torch.Tensor:
        """Loss of D on real and (detached-generator) fake predictions."""
        if self.kind == "ragan":
            return 0.5 * (
                _target_loss(self.kind, pred_real - pred_fake.mean(), True)
                + _target_loss(self.kind, pred_fake - pred_real.mean(), False)
            )
        return _target_loss(self.kind, pred_real, True) + _target_loss(self.kind, pred_fake, False)

    def forward(self, pred_fake: torch.Tensor, pred_real: torch.Tensor | None = None):
        return self.generator(pred_fake, pred_real)
