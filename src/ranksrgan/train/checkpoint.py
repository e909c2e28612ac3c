"""Atomic training checkpoints with every piece of state needed for a bit-exact resume.

``checkpoint/last.pth`` holds G, D, optimisers, schedulers, the iteration (which is also the
data-loader position: patches are keyed by iteration), RNG states (python, numpy, torch, CUDA)
and the log/validation rows so far. ``checkpoint/last.json`` mirrors the iteration for humans
and tests. Files are written with :func:`ranksrgan.io.save_torch_atomic`, so a SIGKILL leaves
either the previous checkpoint or the new one.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ranksrgan.errors import RankSRGANError
from ranksrgan.io import save_torch_atomic, write_bytes_atomic


def rng_state() -> dict[str, Any]:
    """Python, numpy, torch and CUDA RNG states in ``weights_only``-loadable types."""
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "gauss": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`rng_state`'s output."""
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_py(obj: Any) -> Any:
    if isinstance(obj, tuple):
        return [_to_py(o) for o in obj]
    return obj


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
