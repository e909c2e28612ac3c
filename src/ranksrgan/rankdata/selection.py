"""The authors' patch selection rules, each one switchable (``None`` = off).

1. **Sharpness** of the top-level (ESRGAN) patch, as ``compute_sharpness.m``: MATLAB
   ``rgb2gray`` of the uint8 patch as double in [0, 255]; ``sigma = sqrt(imfilter((im -
   imfilter(im, w)).^2, w))`` with ``w`` = ``fspecial('gaussian', 7, 7/6)`` normalised and
   'replicate' borders (the square of the deviation from the local mean is filtered, not
   ``E[x^2] - mu^2``); ``blkproc(sigma, [96 96], @mean)``, which zero-pads the partial last
   blocks (a 296 patch gives 4 x 4 blocks, the last row/column of blocks holding 8 px of data
   and 88 of zeros); the sum of the block means must be ``>= sharpness_min`` (40).
2. **NIQE distance** ``|NIQE(mid) - NIQE(top)| > gap_min`` (0.1) between the two top levels
   (SRGAN, ESRGAN), NIQE on ``rgb2gray`` of the patch with no border shaved (the NIQE release
   converts RGB itself), 96-px blocks.
3. **Cap**: at most ``max_per_image`` (200) positions per image, all if fewer pass, else a
   random subset drawn with a per-image seed derived from the configured seed and the image
   (so shards are independent and a rerun draws the same positions).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.nn.functional as F

from ranksrgan.metrics import Metric, create_metric
from ranksrgan.metrics.colour import rgb_to_luma
from ranksrgan.metrics.distortion import valid_filter

SHARPNESS_BLOCK = 96
_RADIUS = 3  # 7x7 window
_SIGMA = 7.0 / 6.0


def _gaussian_1d(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # fspecial('gaussian', 7, 7/6) / sum is the outer product of this normalised 1-D kernel
    # (fspecial's eps cut-off does not bite: the smallest tap is exp(-6.6) of the largest).
    x = np.arange(-_RADIUS, _RADIUS + 1, dtype=np.float64)
    g = np.exp(-(x**2) / (2 * _SIGMA**2))
    return torch.as_tensor(g / g.sum(), dtype=dtype, device=device)


def _filter_replicate(im: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``imfilter(im, g' * g, 'replicate')`` of N x H x W (separable; the kernel is symmetric).

    Shifted in-place sums (``valid_filter``) rather than ``conv2d``: float64 convolution has
    no fast CPU path (about 10x slower here).
    """
    r = _RADIUS
    x = F.pad(im.unsqueeze(1), (r, r, r, r), mode="replicate").squeeze(1)
    return valid_filter(x, g)


def gray_patches(patches: torch.Tensor) -> torch.Tensor:
    """MATLAB ``double(rgb2gray(uint8 patch))``: N x 3 x H x W in [0, 1] -> N x H x W, 0..255."""
    return rgb_to_luma(patches, "gray", quantize=True)


def local_std(gray: torch.Tensor) -> torch.Tensor:
    """``compute_sharpness.m``'s sigma map of N x H x W gray patches on [0, 255]."""
    g = _gaussian_1d(gray.dtype, gray.device)
    dev = gray - _filter_replicate(gray, g)
    return _filter_replicate(dev * dev, g).sqrt_()


def block_mean_sum(sigma: torch.Tensor, block: int = SHARPNESS_BLOCK) -> torch.Tensor:
    """Sum over ``blkproc`` blocks of each block's mean, partial blocks zero-padded: N values."""
    n, h, w = sigma.shape
    ph, pw = -(-h // block) * block, -(-w // block) * block
    padded = F.pad(sigma, (0, pw - w, 0, ph - h))  # blkproc pads with zeros
    blocks = padded.reshape(n, ph // block, block, pw // block, block)
    return blocks.mean(dim=(2, 4)).sum(dim=(1, 2))


def sharpness(patches: torch.Tensor, block: int = SHARPNESS_BLOCK) -> torch.Tensor:
    """The authors' sharpness of RGB patches N x 3 x H x W in [0, 1] (float64, N values)."""
    return block_mean_sum(local_std(gray_patches(patches)), block)


def gap_metric(device: torch.device | str = "cpu") -> Metric:
    """NIQE as the selection script runs it: ``rgb2gray`` of the uint8 patch, no shave."""
    return create_metric("niqe", device, colour="gray", shave=0, quantize=True)


def image_seed(seed: int, dataset: str, image: str) -> int:
    """A per-image seed from the configured ``seed`` and the image's dataset and name."""
    digest = hashlib.sha256(f"{int(seed)}/{dataset}/{image}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1  # 63 bits: an int64 column


def cap_positions(n: int, max_per_image: int | None, seed: int) -> np.ndarray:
    """Indices (sorted) of the positions kept out of ``n`` passing ones: all if ``n`` is at most
    ``max_per_image`` (or the cap is off), else a random ``max_per_image`` drawn with ``seed``.
    """
    if max_per_image is None or n <= max_per_image:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=int(max_per_image), replace=False))
