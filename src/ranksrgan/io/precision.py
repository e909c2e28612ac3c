"""Autocast by precision name: one rule for the trainers and for inference.

``fp32`` runs without autocast; ``bf16`` / ``fp16`` autocast on the tensor's own device type
(a hard-coded ``"cuda"`` would silently skip autocast elsewhere). Which precision a stage
actually uses is the stage's decision (the trainers honour ``bf16`` on CUDA only, unless asked
otherwise); this only turns the name into a context manager.
"""

from __future__ import annotations

import contextlib

import torch

from ranksrgan.errors import RankSRGANError

PRECISIONS: dict[str, torch.dtype | None] = {
    "fp32": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


def autocast(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context of ``precision`` on ``device``'s type (a no-op for ``fp32``)."""
    if precision not in PRECISIONS:
        raise RankSRGANError(f"unknown precision '{precision}' ({', '.join(PRECISIONS)})")
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)
