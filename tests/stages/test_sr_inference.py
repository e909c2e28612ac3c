"""Tiled inference equals untiled inference; precision/memory-format options run and stay close."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

from ranksrgan import archs
from ranksrgan.errors import NonFiniteError, RankSRGANError
from ranksrgan.imresize import imresize
from ranksrgan.io.device import pick_device
from ranksrgan.sr.inference import (
    InferenceOptions,
    bicubic_upscale,
    forward_tiled,
    prepare_model,
    tile_boxes,
    to_uint8,
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
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RankSRGANError, match="no CUDA"):
            pick_device("cuda")


# ------------------------------------------------------------------ non-finite outputs (issue 19)


def test_to_uint8_refuses_nan_and_inf():
    """Issue 19 item 5: NaN used to become 0 (a black pixel) without a word."""
    y = torch.full((1, 3, 4, 5), 0.5)
    assert (to_uint8(y) == 128).all()
    for bad in (float("nan"), float("inf"), float("-inf")):
        z = y.clone()
        z[0, 1, 2, 3] = bad
        with pytest.raises(NonFiniteError, match=r"^img\.png: 1 of 60 values are NaN or inf"):
            to_uint8(z, "img.png")


def _overflowing_weights(path) -> None:
    """SRResNet weights that are finite and fine in fp32 but overflow fp16 (max 65504)."""
    net = _lively(archs.build("srresnet", nf=8, nb=2))
    with torch.no_grad():
        net.conv_first.weight.mul_(1e5)
    torch.save(net.state_dict(), path)


def test_fp16_overflow_fails_naming_image_and_weights(tmp_path):
    """A non-finite SR output is an error naming the weights file (and the image if given)."""
    from ranksrgan import weights

    path = tmp_path / "srresnet_big.pth"
    _overflowing_weights(path)
    model = archs.build("srresnet", nf=8, nb=2)
    weights.load(model, path)  # finite weights: accepted
    cpu = torch.device("cpu")
    model = prepare_model(model, cpu, InferenceOptions())
    lr = imresize(data.chelsea(), 0.25)[10:40, 20:50]
    out = upscale_image(model, lr, 4, cpu, InferenceOptions(precision="fp32"))
    assert out.shape == (120, 120, 3)  # fp32 is fine
    with pytest.raises(NonFiniteError) as exc:
        upscale_image(model, lr, 4, cpu, InferenceOptions(precision="fp16"))
    msg = str(exc.value)
    assert msg.startswith(f"{path}: SR output at precision fp16: ")
    assert "43200 of 43200 values are NaN or infinite" in msg and "\n" not in msg
    with pytest.raises(NonFiniteError, match=r"^LR_x4/chelsea\.png: SR output of method 'x'"):
        upscale_image(model, lr, 4, cpu, InferenceOptions(precision="fp16"),
                      image="LR_x4/chelsea.png", source="method 'x'")


def test_sr_shard_writes_no_png_for_a_non_finite_output(tmp_path):
    """Through the sr stage: the job fails (exit 1 via the CLI's error line), no black PNG."""
    import pandas as pd

    from ranksrgan.io import sha256_file, write_png
    from ranksrgan.sr.shard import MethodSpec, Upscaler, run_shard

    lr_path = tmp_path / "data" / "LR_x4" / "chelsea.png"
    write_png(lr_path, imresize(data.chelsea(), 0.25)[10:40, 20:50])
    manifest = tmp_path / "data" / "manifest.parquet"
    pd.DataFrame({"image": ["chelsea"], "hr_path": [str(lr_path)], "lr_path": [str(lr_path)],
                  "height": [120], "width": [120], "hr_sha256": [sha256_file(lr_path)],
                  "lr_sha256": [sha256_file(lr_path)]}).to_parquet(manifest)
    w = tmp_path / "big.pth"
    _overflowing_weights(w)
    spec = MethodSpec("big", arch="srresnet", arch_options={"nf": 8, "nb": 2}, weights=str(w),
                      weights_sha256=sha256_file(w))
    up = Upscaler(spec, device="cpu", opts=InferenceOptions(precision="fp16"))
    out = tmp_path / "sr"
    with pytest.raises(NonFiniteError, match=str(w)):
        run_shard(manifest, 0, 4, out, out / "shards" / "0.parquet", up, progress=False)
    assert not list(out.rglob("*.png")) and not (out / "shards" / "0.parquet").exists()
