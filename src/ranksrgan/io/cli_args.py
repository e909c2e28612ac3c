"""argparse types for the stage CLIs' numeric arguments, with the config schema's bounds.

A stage run by hand gets its numbers from the command line, not from the validated config,
so ``--batch-size 0`` once reached the trainer (an IndexError deep in a loader) and
``--iterations 0`` exported an untrained model. These types check the same minimums the
schema (``workflow/schemas/config.schema.yaml``) states, at parse time: argparse then stops
with exit status 2 and the line ``... error: argument --batch-size: expected an integer >= 1,
got '0'`` (argparse itself prefixes the argument's name).

Use the ready-made ones (:data:`positive_int`, :data:`nonnegative_int`,
:data:`positive_float`, :data:`nonnegative_float`, :data:`fraction`) or build one with
:func:`int_at_least` / :func:`float_in`; :func:`or_word` adds a word such as ``auto``/``off``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer ``>= minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an integer >= {minimum}, got {text!r}"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    parse.__name__ = f"integer >= {minimum}"  # argparse's fallback messages use the name
    return parse


def float_in(
    minimum: float, *, exclusive: bool = False, below: float | None = None
) -> Callable[[str], float]:
    """An argparse type: a finite number ``>= minimum`` (``> minimum`` when ``exclusive``),
    and ``< below`` when given."""
    bound = f"> {minimum:g}" if exclusive else f">= {minimum:g}"
    if below is not None:
        bound += f" and < {below:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        ok = math.isfinite(value) and (value > minimum if exclusive else value >= minimum)
        if ok and below is not None:
            ok = value < below
        if not ok:
            raise argparse.ArgumentTypeError(f"expected a number {bound}, got {text!r}")
        return value

    parse.__name__ = f"number {bound}"
    return parse


def or_word(kind: Callable[[str], T], *words: str) -> Callable[[str], T | None]:
    """``kind``, or None for one of ``words`` (e.g. ``auto``), compared case-insensitively."""
    lowered = {w.lower() for w in words}

    def parse(text: str) -> T | None:
        if text.lower() in lowered:
            return None
        try:
            return kind(text)
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"{exc} (or {' | '.join(words)})") from None

    parse.__name__ = getattr(kind, "__name__", "value")
    return parse


positive_int = int_at_least(1)
nonnegative_int = int_at_least(0)
positive_float = float_in(0.0, exclusive=True)
nonnegative_float = float_in(0.0)
fraction = float_in(0.0, below=1.0)  # [0, 1): e.g. a validation fraction

__all__ = [
    "float_in",
    "fraction",
    "int_at_least",
    "nonnegative_float",
    "nonnegative_int",
    "or_word",
    "positive_float",
    "positive_int",
]
