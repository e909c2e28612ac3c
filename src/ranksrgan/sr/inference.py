"""Fast, exact single-image inference: device choice, autocast, channels_last, tiling.

Tiling splits the LR image into ``tile`` x ``tile`` cores; each is run with ``pad`` LR pixels
of real context on every side (clipped at the image border, where the network's own zero
padding applies exactly as in an untiled run) and the padded part of the output is cropped.
With ``pad`` >= the network's receptive-field radius (``model.lr_context``) the stitched
result equals untiled inference up to floating-point reordering.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ranksrgan.errors import NonFiniteError, RankSRGANError
from ranksrgan.io.precision import PRECISIONS, autocast


@dataclass(frozen=True)
class InferenceOptions:
    """How a network is run: precision (fp32/bf16/fp16 autocast), memory format, tiling."""

    precision: str = "fp32"
    channels_last: bool = False
    tile: int = 0  # LR tile side; 0 = whole image
    tile_pad: int | None = None  # LR context per side; None = the network's lr_context

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise RankSRGANError(f"unknown precision '{self.precision}' (fp32, bf16, fp16)")
        if self.tile < 0 or (self.tile_pad is not None and self.tile_pad < 0):
            raise RankSRGANError(f"tile ({self.tile}) and tile_pad ({self.tile_pad}) must be >= 0")


def prepare_model(model: nn.Module, device: torch.device, opts: InferenceOptions) -> nn.Module:
    """Move to ``device`` in eval mode, channels_last if asked. Weights stay fp32 (autocast)."""
    model = model.to(device).eval()
    if opts.channels_last:
        model = model.to(memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _run(model: nn.Module, x: torch.Tensor, opts: InferenceOptions) -> torch.Tensor:
    if opts.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast(x.device, opts.precision):
        y = model(x)
    return y.float()


def tile_boxes(size: int, tile: int, pad: int) -> list[tuple[int, int, int, int]]:
    """1-D tiling: ``(core_start, core_end, padded_start, padded_end)`` covering ``[0, size)``."""
    if tile <= 0 or tile >= size:
        return [(0, size, 0, size)]
    return [
        (s, min(s + tile, size), max(s - pad, 0), min(s + tile + pad, size))
        for s in range(0, size, tile)
    ]


@torch.inference_mode()
def forward_tiled(
    model: nn.Module, x: torch.Tensor, scale: int, opts: InferenceOptions
) -> torch.Tensor:
    """``model(x)`` for an N x C x H x W float tensor, tiled per ``opts``; returns float32."""
    if opts.tile <= 0 or (x.shape[-2] <= opts.tile and x.shape[-1] <= opts.tile):
        return _run(model, x, opts)
    pad = opts.tile_pad if opts.tile_pad is not None else getattr(model, "lr_context", None)
    if pad is None:
        raise RankSRGANError(f"{type(model).__name__}: no lr_context; set sr.tile_pad explicitly")
    n, _, h, w = x.shape
    out = None
    for cy0, cy1, py0, py1 in tile_boxes(h, opts.tile, pad):
        for cx0, cx1, px0, px1 in tile_boxes(w, opts.tile, pad):
            y = _run(model, x[..., py0:py1, px0:px1], opts)
            if out is None:
                out = torch.empty(
                    (n, y.shape[1], h * scale, w * scale), dtype=torch.float32, device=x.device
                )
            oy, ox = (cy0 - py0) * scale, (cx0 - px0) * scale
            out[..., cy0 * scale : cy1 * scale, cx0 * scale : cx1 * scale] = y[
                ..., oy : oy + (cy1 - cy0) * scale, ox : ox + (cx1 - cx0) * scale
            ]
    assert out is not None  # at least one tile
    return out


def to_tensor(img: np.ndarray, device: torch.device) -> torch.Tensor:
    """H x W x 3 uint8 -> 1 x 3 x H x W float32 in [0, 1]."""
    return (
        torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        .float()
        .div_(255)
        .unsqueeze(0)
        .to(device)
    )


def to_uint8(y: torch.Tensor, what: str = "SR output") -> np.ndarray:
    """1 x 3 x H x W float in [0, 1] -> H x W x 3 uint8 (clamp, then round half to even x 255).

    Raises:
        NonFiniteError: ``y`` holds NaN or infinite values (``what`` names it in the message).
            Cast to uint8 they would silently become black (NaN -> 0) or white pixels.
    """
    finite = torch.isfinite(y)
    if not bool(finite.all()):
        bad = int(finite.numel() - finite.sum())
        raise NonFiniteError(
            f"{what}: {bad} of {y.numel()} values are NaN or infinite (diverged weights or an "
            f"fp16 overflow; try precision fp32); no image written"
        )
    return y[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def upscale_image(
    model: nn.Module,
    lr: np.ndarray,
    scale: int,
    device: torch.device,
    opts: InferenceOptions,
    *,
    image: str | None = None,
    source: str | None = None,
) -> np.ndarray:
    """Super-resolve one H x W x 3 uint8 image with a prepared network; returns uint8.

    ``image`` (the LR file) and ``source`` (method / weights file) only name the failure when
    the output is not finite; ``source`` defaults to the weights file
    :func:`ranksrgan.weights.load` recorded on the model (``model.weights_source``).

    Raises:
        NonFiniteError: the network's output holds NaN or infinite values.
    """
    y = forward_tiled(model, to_tensor(lr, device), scale, opts)
    if source is None:
        source = getattr(model, "weights_source", None) or type(model).__name__
    what = f"{image}: SR output of {source}" if image else f"{source}: SR output"
    return to_uint8(y, f"{what} at precision {opts.precision}")


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """The Bicubic baseline: MATLAB-compatible ``imresize`` upsampling of the LR image."""
    from ranksrgan.imresize import imresize

    return imresize(lr, scale)
