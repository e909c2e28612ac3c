"""A Ranker run's options and its two training schedules, stated once (torch-free).

:class:`RankerOptions` holds every option with its default: the CLI's flags default to
"not given" and take these, so the defaults are written here only (the workflow reads the
schedules here too, to shorten them with ``train.iteration_scale``).

The schedules, as named choices:

- ``code``: the authors' current options file (``train_Ranker.json``): Adam lr 1e-4, weight
  decay 1e-4, batch 16, MultiStepLR [100k, 200k] x0.5, 400k iterations.
- ``paper``: the paper (Sec. 4.1) and the repository's first-commit options: Adam lr 1e-3,
  batch 32, halved every 100k (milestones 100k, 200k), 300k iterations, no weight decay.

Both use Adam betas (0.9, 0.999) (PyTorch's default; the options name only beta1 = 0.9).
Any value can be overridden per Ranker in the config (the demo shortens them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

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


@dataclass(frozen=True)
class RankerOptions:
    """Everything one Ranker run needs (plain values; ``None`` = the schedule's value)."""

    name: str
    arch: str = "ranker_vgg12"
    arch_options: dict = field(default_factory=dict)
    loss: str = "margin"
    margin: float = 0.5
    clamp: float = 5.0
    schedule: str = "code"
    lr: float | None = None
    weight_decay: float | None = None
    batch_size: int | None = None
    milestones: tuple[int, ...] | None = None
    gamma: float | None = None
    iterations: int | None = None
    patch: int | None = None  # None = the index's patch size (the authors' full patches)
    augment: bool = False
    seed: int = 10
    checkpoint_every: int = 5000
    log_every: int = 100
    precision: str = "bf16"
    channels_last: bool = True
    workers: int = 4
    labels: tuple[str, ...] = ()

    def resolved(self) -> dict:
        """The schedule's values with this run's overrides applied."""
        s = get_schedule(self.schedule)
        pick = lambda mine, default: default if mine is None else mine  # noqa: E731
        return {
            "name": self.schedule,
            "lr": pick(self.lr, s.lr),
            "weight_decay": pick(self.weight_decay, s.weight_decay),
            "batch_size": pick(self.batch_size, s.batch_size),
            "milestones": list(pick(self.milestones, s.milestones)),
            "gamma": pick(self.gamma, s.gamma),
            "iterations": pick(self.iterations, s.iterations),
            "betas": list(s.betas),
        }

    def to_json(self) -> dict:
        """Plain JSON-able dict (model.json, the checkpoint's options hash)."""
        return {**asdict(self), "schedule_values": self.resolved()}


def resolved_section(spec: dict, scale: float = 1.0) -> dict:
    """A config ``ranker.<name>`` section with the schedule's iterations and milestones and
    the default checkpoint / log intervals filled in where unset, shortened by ``scale``
    (``train.iteration_scale``, :mod:`ranksrgan.budget`); the section itself when scale is 1."""
    from ranksrgan.budget import scale_schedule

    if scale == 1:
        return dict(spec)
    sched = get_schedule(spec.get("schedule") or RankerOptions.schedule)
    full = dict(spec)
    if full.get("iterations") is None:
        full["iterations"] = sched.iterations
    if full.get("milestones") is None:
        full["milestones"] = list(sched.milestones)
    for key in ("checkpoint_every", "log_every"):
        if full.get(key) is None:
            full[key] = getattr(RankerOptions, key)
    return scale_schedule(full, scale)
