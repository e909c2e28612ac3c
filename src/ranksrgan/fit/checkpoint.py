"""Atomic training checkpoints: ``folder/last.pth`` (+ ``last.json`` with the iteration).

A trainer puts everything a bit-exact resume needs into one dict (networks, optimisers,
schedulers, iteration = data position, :func:`ranksrgan.fit.rng_state`, log rows) and
saves it here. Files are written with :func:`ranksrgan.io.save_torch_atomic`, so a SIGKILL
leaves either the previous checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ranksrgan.errors import RankSRGANError
from ranksrgan.io import save_torch_atomic, write_bytes_atomic


def save_checkpoint(folder: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically to ``folder/last.pth`` (+ ``last.json`` with the iteration)."""
    folder = Path(folder)
    save_torch_atomic(state, folder / "last.pth")
    write_bytes_atomic(folder / "last.json", json.dumps({"iteration": state["iteration"]}).encode())


def load_checkpoint(folder: str | Path) -> dict[str, Any] | None:
    """The last checkpoint in ``folder``, or None when there is none."""
    path = Path(folder) / "last.pth"
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (torn/foreign file: say which one)
        raise RankSRGANError(
            f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc})"
        ) from None
