"""PSNR and SSIM on the luma channel with a border shave (PIRM-SR / RankSRGAN protocol).

PSNR follows the PIRM scoring code: MSE between the MATLAB ``rgb2ycbcr`` Y channels (uint8,
so rounded) of the shaved images, ``10 log10(255^2 / MSE)`` per image. SSIM is the Wang et al.
index with an 11x11 Gaussian window (sigma 1.5), constants (0.01 L)^2 and (0.03 L)^2, averaged
over the 'valid' region, as the RankSRGAN/BasicSR evaluation code computes it.

Two named protocols differ only in the rounding of Y (``quantize``, :data:`Y_PROTOCOLS`):
``pirm_matlab`` (``quantize=True``): PIRM's MATLAB code converts uint8 images, so Y is
rounded to uint8, the paper's Table 2 protocol and the default; ``authors_python``
(``quantize=False``): the authors' Python test script (``codes/test.py``: ``bgr2ycbcr`` of the
image / 255, PSNR on ``Y * 255``) keeps Y unrounded. On x4 bicubic of scikit-image photos the
unrounded PSNR is 0.003-0.014 dB higher and SSIM about 0.001 higher
(``tests/toolkit/test_metrics_protocols.py``). Every score row's ``protocol`` JSON carries
``quantize``; the report names the protocol of each table (:func:`protocol_name`).
"""

from __future__ import annotations

import numpy as np
import torch

from ranksrgan.metrics.colour import rgb_to_luma, shave

#: Named PSNR/SSIM protocols -> the ``quantize`` option that gives them.
Y_PROTOCOLS = {"pirm_matlab": True, "authors_python": False}


def protocol_name(quantize: bool) -> str:
    """The named protocol of a ``quantize`` setting (``pirm_matlab`` / ``authors_python``)."""
    return "pirm_matlab" if quantize else "authors_python"


def _luma_pair(x, ref, colour, shave_px, quantize):
    if x.shape != ref.shape:
        raise ValueError(
            f"image and reference differ in size: {tuple(x.shape)} vs {tuple(ref.shape)}"
        )
    a = shave(rgb_to_luma(x, colour, quantize), shave_px)
    b = shave(rgb_to_luma(ref, colour, quantize), shave_px)
    return a, b


def psnr(
    x: torch.Tensor, ref: torch.Tensor, colour: str = "y", shave_px: int = 4, quantize: bool = True
) -> torch.Tensor:
    """PSNR (dB) per image of RGB batches in [0, 1]; ``inf`` for identical images."""
    a, b = _luma_pair(x, ref, colour, shave_px, quantize)
    mse = ((a - b) ** 2).flatten(1).mean(1)
    return 10.0 * torch.log10(255.0**2 / mse)


def ssim_window(dtype, device) -> torch.Tensor:
    """The 11-tap Gaussian (sigma 1.5) of SSIM, as a normalised 1-D window."""
    t = np.arange(-5, 6, dtype=np.float64)
    g = np.exp(-(t**2) / (2 * 1.5**2))
    return torch.as_tensor(g / g.sum(), dtype=dtype, device=device)


def valid_filter(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """'valid' correlation of ... x H x W with the separable window g g' (in-place sums)."""
    k = g.numel()
    h, w = x.shape[-2:]
    gl = g.tolist()
    rows = x[..., 0 : h - k + 1, :] * gl[0]
    for i in range(1, k):
        rows.add_(x[..., i : i + h - k + 1, :], alpha=gl[i])
    out = rows[..., :, 0 : w - k + 1] * gl[0]
    for i in range(1, k):
        out.add_(rows[..., :, i : i + w - k + 1], alpha=gl[i])
    return out


def ssim(
    x: torch.Tensor, ref: torch.Tensor, colour: str = "y", shave_px: int = 4, quantize: bool = True
) -> torch.Tensor:
    """Mean SSIM per image of RGB batches in [0, 1] (luma, shaved)."""
    a, b = _luma_pair(x, ref, colour, shave_px, quantize)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = ssim_window(a.dtype, a.device)
    f = valid_filter(torch.stack([a, b, a * a, b * b, a * b], dim=1), g)
    mu1, mu2 = f[:, 0], f[:, 1]
    s11, s22, s12 = f[:, 2] - mu1**2, f[:, 3] - mu2**2, f[:, 4] - mu1 * mu2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s11 + s22 + c2))
    return m.flatten(1).mean(1)
