"""Name -> network class registry (BasicSR style).

Each architecture module registers its classes with ``@register("name")``; callers build
networks by name with ``build(name, **options)`` so that config files can name them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from torch import nn

from ranksrgan.errors import RankSRGANError

_REGISTRY: dict[str, type[nn.Module]] = {}

T = TypeVar("T", bound=type[nn.Module])


def register(name: str) -> Callable[[T], T]:
    """Class decorator adding a network class to the registry under ``name``."""

    def deco(cls: T) -> T:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"architecture name '{name}' registered twice")
        _REGISTRY[name] = cls
        return cls

    return deco


def get_arch(name: str) -> type[nn.Module]:
    """The class registered as ``name``; one-line error listing the known names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise RankSRGANError(
            f"unknown architecture '{name}' (known: {', '.join(list_archs())})"
        ) from None


def build(name: str, **options) -> nn.Module:
    """Instantiate the network registered as ``name`` with keyword ``options``."""
    cls = get_arch(name)
    try:
        return cls(**options)
    except TypeError as exc:
        raise RankSRGANError(f"architecture '{name}': bad options {options}: {exc}") from None


def list_archs() -> list[str]:
    """Sorted registered architecture names."""
    return sorted(_REGISTRY)
