"""pyiqa as a reference, offline: its weight cache, and its NIQE in MATLAB precision."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch


def use_offline_pyiqa_home(home: str | os.PathLike) -> Path:
    """Point pyiqa's weight cache at ``home`` (``TORCH_HOME``), holding the vendored LIVE NIQE
    parameters, so that pyiqa's NIQE never downloads. pyiqa reads ``TORCH_HOME`` when first
    imported: call this before importing it. Returns ``home``.
    """
    from ranksrgan.metrics.models import ASSETS

    home = Path(home)
    (home / "hub" / "pyiqa").mkdir(parents=True, exist_ok=True)
    name = "niqe_modelparameters.mat"
    shutil.copy(ASSETS / "niqe" / name, home / "hub" / "pyiqa" / name)
    os.environ["TORCH_HOME"] = str(home)
    return home


@contextlib.contextmanager
def pyiqa_niqe_in_double() -> Iterator[None]:
    """pyiqa's NIQE with its three float32 steps done in double, as MATLAB does them.

    pyiqa rounds the 7x7 Gaussian window to float32 (``fspecial(...).float()``), resizes the
    second scale in float32 and builds its AGGD shape table with a default-dtype ``arange``
    (float32); together they move NIQE by ~1e-4 on photos. This diagnostic
    (never for timing) separates those known deviations from our own: used by the NIQE tests
    and ``benchmarks/metrics.py``. Not thread-safe: it swaps two pyiqa functions and
    torch's default dtype for the duration.
    """
    import pyiqa.archs.func_util as fu
    import pyiqa.archs.niqe_arch as na

    from ranksrgan.metrics.resize import imresize_double

    def fspecial64(size, sigma, channels=1, filter_type="gaussian"):
        r = (size - 1) / 2
        yy, xx = np.ogrid[-r : r + 1, -r : r + 1]
        g = np.exp(-(xx * xx + yy * yy) / (2.0 * sigma * sigma))
        return torch.from_numpy(g / g.sum()).repeat(channels, 1, 1, 1)

    def imresize64(img, scale=None, antialiasing=True):
        return imresize_double(img[:, 0].double(), scale).unsqueeze(1)

    saved = fu.fspecial, na.imresize, torch.get_default_dtype()
    fu.fspecial, na.imresize = fspecial64, imresize64
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        fu.fspecial, na.imresize = saved[:2]
        torch.set_default_dtype(saved[2])
