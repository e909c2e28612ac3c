"""Stop a training run whose step turned non-finite, naming the iteration and the term.

Trainers keep per-step values on the device and bring them to the host once per log
interval (no synchronisation inside the step); :func:`check_finite` runs on those host values
before anything is logged or checkpointed, so a diverged state is never saved and the error
names the first bad step exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ranksrgan.errors import RankSRGANError


def check_finite(
    values: torch.Tensor, columns: Sequence[str], first_iteration: int, what: str
) -> None:
    """Raise if any value of ``values`` (steps x columns) is NaN or infinite.

    Row ``i`` belongs to iteration ``first_iteration + i`` (1-based iteration counts, as the
    training logs use). The message names ``what`` (the run), the iteration, the first
    non-finite column and its value.
    """
    bad = ~torch.isfinite(values)
    if not bool(bad.any()):
        return
    row = int(bad.any(dim=1).nonzero()[0, 0])
    col = int(bad[row].nonzero()[0, 0])
    name = columns[col] if col < len(columns) else f"column {col}"
    raise RankSRGANError(
        f"{what}: training step at iteration {first_iteration + row} turned non-finite "
        f"({name} = {float(values[row, col])}); stopped, the last checkpoint is kept"
    )
