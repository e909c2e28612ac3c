"""Tiled inference equals untiled inference; precision/memory-format options run and stay close."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

from ranksrgan import archs
from ranksrgan.errors import RankSRGANError
from ranksrgan.imresize import imresize
from ranksrgan.sr.inference import (
    InferenceOptions,
    bicubic_upscale,
    forward_tiled,
    select_device,
    tile_boxes,
    upscale_image,
)

NETS = [
    ("fsrcnn", {}),
    ("srresnet", {"nf": 8, "nb": 2}),
    ("rrdbnet", {"nf": 8, "nb": 1, "gc": 4}),
]


def _lr_photo(h=45, w=38) -> torch.Tensor:
    """A real photo (chelsea) downscaled with MATLAB bicubic, cropped, as 1x3xHxW float."""
    lr = imresize(data.chelsea(), 0.25)[10 : 10 + h, 20 : 20 + w]
    return torch.from_numpy(lr.transpose(2, 0, 1).copy()).float().div(255).unsqueeze(0)


def _lively(net: torch.nn.Module) -> torch.nn.Module:
    """Re-initialise with unit-gain weights so outputs are O(1) (the 0.1-scaled init is ~1e-5)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() > 1:
                p.normal_(0, (1.0 / p[0].numel()) ** 0.5)
            else:
                p.uniform_(0.0, 0.05)
    return net.eval()


def test_tile_boxes_cover_the_axis_once():
    for size, tile, pad in [(45, 16, 5), (16, 16, 3), (17, 16, 40), (7, 0, 2)]:
        boxes = tile_boxes(size, tile, pad)
        cover = np.zeros(size, int)
        for c0, c1, p0, p1 in boxes:
            cover[c0:c1] += 1
            assert 0 <= p0 <= c0 < c1 <= p1 <= size and c0 - p0 <= pad and p1 - c1 <= pad
        assert (cover == 1).all()


@pytest.mark.parametrize("name,opts", NETS)
def test_tiled_equals_untiled(name, opts):
    net = _lively(archs.build(name, **opts))
    x = _lr_photo()
    with torch.no_grad():
        ref = net(x)
    tiled = forward_tiled(net, x, 4, InferenceOptions(tile=16))  # pad = net.lr_context
    assert tiled.shape == ref.shape
    assert (tiled - ref).abs().max().item() <= 1e-4
    # Without context the seams differ: the check above can fail when stitching is wrong.
    no_ctx = forward_tiled(net, x, 4, InferenceOptions(tile=16, tile_pad=0))
    assert (no_ctx - ref).abs().max().item() > 1e-2 * ref.abs().max().item() > 1e-4


@pytest.mark.parametrize(
    "precision,channels_last", [("bf16", True), ("fp32", True), ("bf16", False)]
)
def test_fast_paths_stay_close(precision, channels_last):
    net = _lively(archs.build("srresnet", nf=8, nb=2))
    x = _lr_photo(24, 20)
    with torch.no_grad():
        ref = net(x)
    y = forward_tiled(
        net.to(memory_format=torch.channels_last) if channels_last else net,
        x,
        4,
        InferenceOptions(precision=precision, channels_last=channels_last),
    )
    assert y.dtype == torch.float32 and y.shape == ref.shape
    tol = 1e-5 if precision == "fp32" else 0.05 * ref.abs().max().item()
    assert (y - ref).abs().max().item() <= tol


def test_upscale_image_rounds_and_clamps():
    class Const(torch.nn.Module):
        def forward(self, x):
            y = (
                torch.nn.functional.interpolate(x, scale_factor=4) * 0 + 0.5 / 255 * 3
            )  # 1.5 -> 2 (half to even)
            y[..., 0, 0] = 2.0  # clamp high
            y[..., 0, 1] = -1.0  # clamp low
            return y

    out = upscale_image(
        Const(), np.zeros((3, 2, 3), np.uint8), 4, torch.device("cpu"), InferenceOptions()
    )
    assert out.dtype == np.uint8 and out.shape == (12, 8, 3)
    assert out[0, 0, 0] == 255 and out[0, 1, 0] == 0 and out[5, 5, 0] == 2


def test_bicubic_is_matlab_imresize_upsampling():
    lr = imresize(data.astronaut()[:96, :80], 0.25)
    assert np.array_equal(bicubic_upscale(lr, 4), imresize(lr, 4))
    assert bicubic_upscale(lr, 4).shape == (96, 80, 3)


def test_bad_options_are_one_line_errors():
    with pytest.raises(RankSRGANError, match="precision 'fp8'"):
        InferenceOptions(precision="fp8")
    with pytest.raises(RankSRGANError, match="tile"):
        InferenceOptions(tile=-1)
    with pytest.raises(RankSRGANError, match="unknown device"):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RankSRGANError, match="no CUDA"):
            select_device("cuda")
