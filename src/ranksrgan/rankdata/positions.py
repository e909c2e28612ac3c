"""Patch positions on an image: the authors' grid rule, and batched crops.

The MATLAB script walks rows and columns with ``for h = 1:stride:H-size`` (1-based) and crops
``img(h:h+size-1, ...)``. In 0-based terms the top-left rows are ``0, stride, 2*stride, ...``
while ``< H - size``: the last row (column) a patch starts at is the largest multiple of
``stride`` strictly below ``H - size``. So the bottom-most window (start ``H - size``) is left
out even when ``H - size`` is a multiple of ``stride``, and an image exactly ``size`` pixels
high yields no row at all. Example: H = 592, size 296, stride 148: MATLAB ``1:148:296`` is
1, 149, so the 0-based rows are 0 and 148; the window at 296 (the image's last 296 rows) is
not used. With H = 600 the rows are 0, 148, 296 (MATLAB 1, 149, 297 <= 304), never 304.
``grid="full"`` is the usual inclusive rule (``0 .. H - size`` by ``stride``), for users who
do not need the script's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ranksrgan.errors import RankSRGANError

GRIDS = ("script", "full")


def grid_starts(length: int, size: int, stride: int, grid: str = "script") -> list[int]:
    """0-based start offsets along one axis of ``length`` pixels.

    ``script``: MATLAB ``1:stride:length-size`` minus one, i.e. ``range(0, length - size,
    stride)``; ``full``: ``range(0, length - size + 1, stride)``. Empty when the axis is
    shorter than ``size`` (and, for ``script``, when it equals ``size``).
    """
    if size < 1 or stride < 1:
        raise RankSRGANError(f"patch size {size} and stride {stride} must be >= 1")
    if grid == "script":
        return list(range(0, length - size, stride))
    if grid == "full":
        return list(range(0, length - size + 1, stride))
    raise RankSRGANError(f"grid rule {grid!r}: must be one of {', '.join(GRIDS)}")


def grid_positions(
    height: int, width: int, size: int, stride: int, grid: str = "script"
) -> list[tuple[int, int]]:
    """0-based top-left ``(y, x)`` of every patch, row by row (the script's loop order)."""
    ys = grid_starts(height, size, stride, grid)
    xs = grid_starts(width, size, stride, grid)
    return [(y, x) for y in ys for x in xs]


def crop_batch(
    image: torch.Tensor, positions: Sequence[tuple[int, int]], size: int
) -> torch.Tensor:
    """Patches of a C x H x W (or H x W) tensor at ``positions``: N x C x size x size."""
    if not positions:
        shape = (0, *image.shape[:-2], size, size)
        return image.new_empty(shape)
    return torch.stack([image[..., y : y + size, x : x + size] for y, x in positions])


def to_unit_tensor(img: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """An H x W x 3 uint8 image as a 3 x H x W float64 tensor in [0, 1] on ``device``."""
    t = torch.from_numpy(np.require(img, requirements=["C", "W"])).to(device)
    return t.permute(2, 0, 1).to(torch.float64).div_(255.0)
