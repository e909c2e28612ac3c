"""Ranker training losses on a pair of patches of the same position.

Every loss takes ``(out_a, out_b, label_a, label_b)``: the Ranker's outputs (shape ``(B,)``
or ``(B, 1)``) and the patches' labels, where a label is the metric oriented so that lower is
better (NIQE, PI as-is; Ma negated). The Ranker learns the same direction: lower output =
perceptually better, which is what the rank-content loss of RankSRGAN minimises.

- ``margin_ranking`` (the authors' Ranker): outputs clamped to ``[-clamp, clamp]``, target
  ``+1`` when ``label_a >= label_b`` else ``-1``, ``mean(max(0, -target * (a - b) + margin))``.
  The clamp stops the gradient of a saturated output, as in the authors' code.
  Paper vs code: Eq. 3 asks ``s1 < s2`` when ``m1 < m2`` (lower metric, lower score), but
  Eq. 4 writes ``max(0, (s1 - s2) * gamma + eps)`` with ``gamma = -1`` if ``m1 < m2`` and
  ``+1`` if ``m1 > m2``, which would push ``s1 > s2`` there: its two cases are swapped
  relative to Eq. 3. The authors' code (and this loss) follows Eq. 3, i.e. Eq. 4 with
  ``gamma = +1`` if ``m1 < m2`` and ``-1`` if ``m1 > m2``; the rank-content loss (Eq. 9,
  ``sigmoid(R(G(x)))`` minimised) needs exactly that direction.
- ``rank_regression`` (the paper's Tables 5-6 "regression" alternative): MSE of each output to
  its own label, averaged over both patches.
- ``fidelity`` (Chen et al., ``papers/003``, Eqs. 3-5; Tsai et al.'s FRank loss): Thurstone
  probability that ``a`` is worse than ``b``, ``p = Phi((a - b) / sqrt(2))`` (unit variance
  per output), against ``r = 1 / 0.5 / 0`` for ``label_a > / = / < label_b``:
  ``1 - sqrt(r p) - sqrt((1 - r)(1 - p))``. Computed per pair (the paper averages a group of
  images per method first; a pair is the group of one position here).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ranksrgan.errors import RankSRGANError
from ranksrgan.losses.registry import register_loss


def _flat(*ts: torch.Tensor) -> list[torch.Tensor]:
    return [t.float().reshape(-1) for t in ts]


@register_loss("margin_ranking")
class MarginRankingLoss(nn.Module):
    """The authors' Ranker loss (margin 0.5, outputs clamped to +-5)."""

    def __init__(self, margin: float = 0.5, clamp: float = 5.0):
        super().__init__()
        if margin < 0 or clamp <= 0:
            raise RankSRGANError(
                f"margin_ranking: margin must be >= 0 and clamp > 0 (got {margin}, {clamp})"
            )
        self.margin, self.clamp = float(margin), float(clamp)

    def forward(self, out_a, out_b, label_a, label_b) -> torch.Tensor:
        a, b, la, lb = _flat(out_a, out_b, label_a, label_b)
        a, b = a.clamp(-self.clamp, self.clamp), b.clamp(-self.clamp, self.clamp)
        target = torch.where(la >= lb, 1.0, -1.0)
        return F.margin_ranking_loss(a, b, target, margin=self.margin)


@register_loss("rank_regression")
class RankRegressionLoss(nn.Module):
    """MSE of each Ranker output to its patch's label."""

    def forward(self, out_a, out_b, label_a, label_b) -> torch.Tensor:
        a, b, la, lb = _flat(out_a, out_b, label_a, label_b)
        return 0.5 * (F.mse_loss(a, la) + F.mse_loss(b, lb))


@register_loss("fidelity")
class FidelityLoss(nn.Module):
    """Fidelity loss of a Thurstone-model pair probability (papers/003 Eq. 5)."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = float(eps)  # keeps sqrt differentiable where a probability is exactly 0

    def forward(self, out_a, out_b, label_a, label_b) -> torch.Tensor:
        a, b, la, lb = _flat(out_a, out_b, label_a, label_b)
        r = torch.where(la > lb, 1.0, torch.where(la == lb, 0.5, 0.0))
        p = 0.5 * (1.0 + torch.erf((a - b) / 2.0))  # Phi((a - b) / sqrt(2))
        e = self.eps
        loss = 1.0 - torch.sqrt(r * p + e) - torch.sqrt((1.0 - r) * (1.0 - p) + e)
        return loss.mean()


RANKER_LOSSES = {
    "margin": "margin_ranking",
    "regression": "rank_regression",
    "fidelity": "fidelity",
}
"""Config names of the Ranker losses -> registered loss names."""
