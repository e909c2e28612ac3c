"""Device choice of a training run: the toolkit's one chooser (:mod:`ranksrgan.io.device`)."""

from __future__ import annotations

from ranksrgan.io.device import pick_device

__all__ = ["pick_device"]
