"""Name -> constructor table for losses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from ranksrgan.errors import RankSRGANError

LOSSES: dict[str, Callable[..., nn.Module]] = {}


def register_loss(*names: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Class decorator registering a loss constructor under one or more names."""

    def deco(cls: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        for n in names:
            LOSSES[n] = cls
        return cls

    return deco


def build_loss(name: str, **options: Any) -> nn.Module:
    """Instantiate the loss registered as ``name`` with ``options``."""
    if name not in LOSSES:
        raise RankSRGANError(f"unknown loss '{name}' (known: {', '.join(sorted(LOSSES))})")
    try:
        return LOSSES[name](**options)
    except TypeError as exc:
        raise RankSRGANError(f"loss '{name}': bad options {sorted(options)} ({exc})") from None
