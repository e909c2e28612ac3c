"""``create_metric('niqe')``: PIRM protocol (MATLAB rgb2ycbcr Y, 4 px shave, 96 px blocks)."""

from __future__ import annotations

import torch

from ranksrgan.metrics import Metric
from ranksrgan.metrics.colour import COLOURS, rgb_to_luma, shave
from ranksrgan.metrics.models import niqe_params
from ranksrgan.metrics.niqe import BLOCK, CHUNK_PX_CUDA, niqe_luma

GROUP_PX = 1 << 20  # pixels per group of images scored together (speed only)


def build_niqe(
    device: torch.device,
    colour: str = "y",
    shave: int = 4,
    block: int = BLOCK,
    quantize: bool = True,
    params_path: str | None = None,
) -> Metric:
    """The NIQE metric object; images must be >= ``block + 2 * shave`` pixels per side."""
    if colour not in COLOURS:
        raise ValueError(f"niqe colour must be one of {COLOURS}, got {colour!r}")
    mu, cov, sha = niqe_params(params_path)
    mu_t = torch.as_tensor(mu, dtype=torch.float64, device=device)
    cov_t = torch.as_tensor(cov, dtype=torch.float64, device=device)
    shave_px = int(shave)

    def run(x: torch.Tensor) -> torch.Tensor:
        # Groups of images of about GROUP_PX pixels keep every temporary small enough to be
        # reused by the allocator (large fresh tensors cost page faults: ~2x on a batch of 64).
        group_px = GROUP_PX if x.device.type == "cpu" else CHUNK_PX_CUDA
        per = max(1, group_px // (x.shape[-2] * x.shape[-1]))
        return torch.cat(
            [
                niqe_luma(_shave(rgb_to_luma(g, colour, quantize), shave_px), mu_t, cov_t, block)
                for g in x.split(per)
            ]
        )

    params = {
        "colour": colour,
        "shave": shave_px,
        "block": int(block),
        "quantize": bool(quantize),
        "niqe_params_sha256": sha,
    }
    return Metric(
        "niqe",
        run,
        lower_better=True,
        full_reference=False,
        params=params,
        device=device,
        min_size=int(block) + 2 * shave_px,
    )


_shave = shave
