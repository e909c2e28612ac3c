"""Batched torch version of MATLAB's bicubic ``imresize`` on double images.

Uses the contribution weights of :mod:`ranksrgan.imresize` (the numpy reference), so both give
the same result; this one runs on N x H x W tensors on any device, as a gather of a few taps
per output pixel rather than a dense matrix product.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from ranksrgan.imresize import contributions


@lru_cache(maxsize=64)
def _weights(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    return contributions(in_len, out_len, scale, True)


def _resize_dim(x: torch.Tensor, dim: int, out_len: int, scale: float) -> torch.Tensor:
    w, idx = _weights(x.shape[dim], out_len, scale)
    w_t = torch.as_tensor(w, dtype=x.dtype, device=x.device)
    idx_t = torch.as_tensor(idx, dtype=torch.long, device=x.device)
    shape = [1] * x.ndim
    shape[dim] = out_len
    out = None
    for k in range(w.shape[1]):
        term = x.index_select(dim, idx_t[:, k]) * w_t[:, k].reshape(shape)
        out = term if out is None else out + term
    assert out is not None  # the kernel has at least one tap
    return out


def imresize_double(x: torch.Tensor, scale: float) -> torch.Tensor:
    """MATLAB ``imresize(x, scale)`` (bicubic, antialiased) of a float N x H x W batch."""
    h, w = x.shape[-2:]
    out_h, out_w = int(math.ceil(h * scale - 1e-9)), int(math.ceil(w * scale - 1e-9))
    # Same scale on both axes: MATLAB resizes rows (dim -2) first.
    x = _resize_dim(x, x.ndim - 2, out_h, scale)
    return _resize_dim(x, x.ndim - 1, out_w, scale)
