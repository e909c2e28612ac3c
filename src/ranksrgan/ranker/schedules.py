"""The Ranker's two training schedules, as named choices.

- ``code``: the authors' current options file (``train_Ranker.json``): Adam lr 1e-4, weight
  decay 1e-4, batch 16, MultiStepLR [100k, 200k] x0.5, 400k iterations.
- ``paper``: the paper (Sec. 4.1) and the repository's first-commit options: Adam lr 1e-3,
  batch 32, halved every 100k (milestones 100k, 200k), 300k iterations, no weight decay.

Both use Adam betas (0.9, 0.999) (PyTorch's default; the options name only beta1 = 0.9).
Any value can be overridden per Ranker in the config (the demo shortens them).
"""

from __future__ import annotations

from dataclasses import dataclass

from ranksrgan.errors import RankSRGANError


@dataclass(frozen=True)
class Schedule:
    """Optimiser and learning-rate schedule of a Ranker run."""

    lr: float
    weight_decay: float
    batch_size: int
    milestones: tuple[int, ...]
    gamma: float
    iterations: int
    betas: tuple[float, float] = (0.9, 0.999)


SCHEDULES: dict[str, Schedule] = {
    "code": Schedule(1e-4, 1e-4, 16, (100_000, 200_000), 0.5, 400_000),
    "paper": Schedule(1e-3, 0.0, 32, (100_000, 200_000), 0.5, 300_000),
}


def get_schedule(name: str) -> Schedule:
    """The schedule called ``name`` (one-line error listing the known names)."""
    try:
        return SCHEDULES[name]
    except KeyError:
        raise RankSRGANError(
            f"unknown Ranker schedule '{name}' (known: {', '.join(sorted(SCHEDULES))})"
        ) from None
