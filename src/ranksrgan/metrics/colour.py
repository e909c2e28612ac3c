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
    if colour == "y":
        # MATLAB: T = (1/255) * origT for uint8 input (a product, not a division by 255).
        weights, offset = [(1.0 / 255.0) * c for c in _YCBCR_Y], 16.0
    elif colour == "gray":
        weights, offset = list(_GRAY), 0.0
    else:
        raise ValueError(f"colour must be one of {COLOURS}, got {colour!r}")
    rgb = x.to(dtype).clamp(0, 1).mul_(255.0)
    if quantize:
        rgb.add_(0.5).floor_()  # non-negative, so MATLAB's half-away rounding is floor(v + 0.5)
    # imlincomb's order: ((w0 R + w1 G) + w2 B) + offset, each product and sum rounded on its
    # own (no fused multiply-add), so the 8-bit rounding of exact .5 ties goes as in MATLAB.
    out = rgb[:, 0] * weights[0]
    term = torch.empty_like(out)
    for c in (1, 2):
        out.add_(torch.mul(rgb[:, c], weights[c], out=term))
    if offset:
        out.add_(offset)
    if quantize:
        out.add_(0.5).floor_().clamp_(0, 255)  # out >= 0: half away from zero
    return out


def shave(x: torch.Tensor, border: int) -> torch.Tensor:
    """Drop ``border`` pixels on each side of the last two dimensions."""
    if border <= 0:
        return x
    return x[..., border:-border, border:-border]
