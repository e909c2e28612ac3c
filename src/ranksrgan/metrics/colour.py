"""MATLAB colour conversions used by the PIRM-SR scoring code, on batched torch tensors.

Both functions take RGB N x 3 x H x W in [0, 1] and return N x H x W on the [0, 255] scale.
MATLAB applies them to ``uint8`` images and returns ``uint8``, so with ``quantize=True``
(the PIRM protocol) the result is rounded half away from zero and saturated, as MATLAB's
conversion to ``uint8`` does. The input is first quantised to 8 bit in the same way
because the scored images are 8-bit files.
"""

from __future__ import annotations

import torch

# MATLAB rgb2ycbcr: Y = 16 + (65.481 R + 128.553 G + 24.966 B) with R, G, B in [0, 1].
_YCBCR_Y = (65.481, 128.553, 24.966)
# MATLAB rgb2gray: the first row of inv(NTSC matrix), as MATLAB computes it.
_GRAY = (0.298936021293775, 0.587043074451121, 0.114020904255103)

COLOURS = ("y", "gray")


def _round_half_away(x: torch.Tensor) -> torch.Tensor:
    """MATLAB's rounding (half away from zero); torch.round rounds half to even."""
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def to_uint8_scale(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] floats to the 8-bit values MATLAB would read from a PNG (as float)."""
    # Non-negative after the clamp, so half-away-from-zero is floor(v + 0.5): no sign/abs pass.
    return torch.floor(x.clamp(0, 1) * 255.0 + 0.5)


def rgb_to_luma(
    x: torch.Tensor, colour: str = "y", quantize: bool = True, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Luma of an RGB batch as MATLAB ``rgb2ycbcr(:,:,1)`` (``"y"``) or ``rgb2gray`` (``"gray"``).

    Args:
        x: N x 3 x H x W RGB in [0, 1].
        colour: ``"y"`` or ``"gray"``.
        quantize: round the input and the result to 8 bit as MATLAB does on uint8 images.
        dtype: computation dtype (float64 keeps MATLAB's double arithmetic).

    Returns:
        N x H x W luma on the [0, 255] scale.
    """
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected an RGB batch N x 3 x H x W, got shape {tuple(x.shape)}")
    x = x.to(dtype)
    rgb = to_uint8_scale(x) if quantize else x.clamp(0, 1) * 255.0
    if colour == "y":
        w = torch.tensor(_YCBCR_Y, dtype=dtype, device=x.device) / 255.0
        out = 16.0 + torch.einsum("nchw,c->nhw", rgb, w)
    elif colour == "gray":
        w = torch.tensor(_GRAY, dtype=dtype, device=x.device)
        out = torch.einsum("nchw,c->nhw", rgb, w)
    else:
        raise ValueError(f"colour must be one of {COLOURS}, got {colour!r}")
    if quantize:
        out = _round_half_away(out).clamp(0, 255)
    return out


def shave(x: torch.Tensor, border: int) -> torch.Tensor:
    """Drop ``border`` pixels on each side of the last two dimensions."""
    if border <= 0:
        return x
    return x[..., border:-border, border:-border]
