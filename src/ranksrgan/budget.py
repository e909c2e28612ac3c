"""A shortened study on a budget: ``train.iteration_scale`` applied to iteration counts.

The full paper config is hundreds of GPU-hours (``ranksrgan status --tables``). One factor
shortens every training of it alike, so that the tables keep their meaning as a comparison at
a smaller budget: iterations, learning-rate milestones, checkpoint and validation intervals
are multiplied by the factor and rounded (at least 1); milestones stay strictly below the
shortened iteration count and distinct. The workflow applies it when it resolves a preset or
a Ranker section, so a job gets (and ``G.json`` / ``model.json`` record) the shortened values.

Torch-free (the workflow imports it at DAG load).
"""

from __future__ import annotations

import copy
from typing import Any

# Preset keys scaled like the iteration count (log_every is only capped: a log row per
# shortened run is still wanted).
INTERVAL_KEYS = ("checkpoint_every", "val_every")


def scale_count(n: int, scale: float) -> int:
    """``n`` x ``scale``, rounded half up, at least 1."""
    return max(1, int(n * scale + 0.5))


def scale_milestones(milestones: list[int], iterations: int, scale: float) -> list[int]:
    """Milestones x ``scale``, distinct, below the (already shortened) ``iterations``."""
    out = sorted({scale_count(m, scale) for m in milestones})
    return [m for m in out if m < iterations] or out[:1]


def scale_schedule(
    spec: dict[str, Any], scale: float, iterations_key: str = "iterations"
) -> dict[str, Any]:
    """A copy of a section with ``iterations``, milestones and intervals scaled. Milestones
    are read from ``spec["scheduler"]["milestones"]`` (a GAN preset) or
    ``spec["milestones"]`` (a Ranker section); absent keys stay absent."""
    out = copy.deepcopy(spec)
    if scale == 1 or iterations_key not in out:
        return out
    its = out[iterations_key] = scale_count(out[iterations_key], scale)
    sched = out.get("scheduler")
    holder: dict[str, Any] = sched if isinstance(sched, dict) else out
    if holder.get("milestones"):
        holder["milestones"] = scale_milestones(holder["milestones"], its, scale)
    for key in INTERVAL_KEYS:
        if key in out:
            out[key] = min(scale_count(out[key], scale), its)
    if "log_every" in out:
        out["log_every"] = min(out["log_every"], its)
    return out


def iteration_scale(config: dict[str, Any]) -> float:
    """The config's ``train.iteration_scale`` (1 when unset)."""
    return float((config.get("train") or {}).get("iteration_scale", 1))
