"""Device choice of a training run: ``auto`` | ``cpu`` | ``cuda``."""

from __future__ import annotations

import torch

from ranksrgan.errors import RankSRGANError


def pick_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise RankSRGANError(f"unknown device '{name}' (auto, cpu, cuda)")
    if name == "cuda" and not torch.cuda.is_available():
        raise RankSRGANError("device 'cuda' requested but no CUDA device is available")
    return torch.device(name)
