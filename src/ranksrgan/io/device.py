"""The toolkit's one device chooser: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``.

Used by every stage that runs a network or a metric (sr, score, rankdata, train, ranker) so
that a config's ``device`` means the same everywhere and ``cuda`` on a host without CUDA is
one line naming the option, not a traceback from deep inside torch.
"""

from __future__ import annotations

import re

import torch

from ranksrgan.errors import RankSRGANError

_NAMES = "auto, cpu, cuda or cuda:N"


def pick_device(name: str | torch.device) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cpu``; ``cuda``/``cuda:N`` (must exist).

    Raises:
        RankSRGANError: an unknown name, CUDA asked for on a host without it, or a CUDA index
            the host does not have (one line).
    """
    if isinstance(name, torch.device):
        name = str(name)
    name = str(name).strip()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    m = re.fullmatch(r"cuda(?::(\d+))?", name)
    if m is None:
        raise RankSRGANError(f"unknown device '{name}' ({_NAMES})")
    if not torch.cuda.is_available():
        raise RankSRGANError(
            f"device '{name}': no CUDA device is available on this host "
            "(use cpu, or auto to take a GPU when there is one)"
        )
    if m.group(1) is not None and int(m.group(1)) >= torch.cuda.device_count():
        raise RankSRGANError(
            f"device '{name}': this host has {torch.cuda.device_count()} CUDA device(s)"
        )
    return torch.device(name)
