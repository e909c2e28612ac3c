"""Loss registry: ``build_loss(name, **options)`` returns an ``nn.Module``.

Every loss returns its *unweighted* value; the training engine multiplies by the weight from
the config, so one place (the preset) owns every weight.

Registered names: ``l1``, ``l2`` (alias ``mse``), ``perceptual``, ``gan`` (vanilla, ragan,
lsgan), ``rank_content``; the Ranker's pair losses ``margin_ranking``, ``rank_regression``,
``fidelity`` (:mod:`ranksrgan.losses.ranking`).
"""

from __future__ import annotations

# Import for the side effect of registering each loss.
from ranksrgan.losses import gan, perceptual, pixel, rank_content, ranking  # noqa: F401
from ranksrgan.losses.ranking import RANKER_LOSSES
from ranksrgan.losses.registry import LOSSES, build_loss, register_loss

__all__ = ["LOSSES", "RANKER_LOSSES", "build_loss", "register_loss"]
