"""MATLAB-compatible bicubic imresize: independent reference, pyiqa cross-check, properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage import data

from ranksrgan.errors import RankSRGANError
from ranksrgan.imresize import imresize

# --------------------------------------------------------------------------- slow reference
# Written from MATLAB's documented algorithm (imresize.m: contributions(), resizeAlongDim(),
# dimension order by sort(scale)), one output sample at a time with plain Python loops.


def _keys_cubic(x: float) -> float:
    """Keys (1981) cubic convolution kernel with a = -0.5, as MATLAB's ``cubic``."""
    a = -0.5
    t = abs(x)
    if t <= 1:
        return (a + 2) * t**3 - (a + 3) * t**2 + 1
    if t <= 2:
        return a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
    return 0.0


def _ref_weights(in_len: int, out_len: int, scale: float) -> list[list[tuple[int, float]]]:
    width = 4.0 / scale if scale < 1 else 4.0
    rows = []
    for x in range(1, out_len + 1):  # 1-based output coordinate, as MATLAB
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        taps = []
        for j in range(left, left + math.ceil(width) + 2):
            w = scale * _keys_cubic(scale * (u - j)) if scale < 1 else _keys_cubic(u - j)
            # symmetric padding: ... 2 1 | 1 2 ... n | n n-1 ...
            k = (j - 1) % (2 * in_len)
            src = k if k < in_len else 2 * in_len - 1 - k
            taps.append((src, w))
        total = sum(w for _, w in taps)
        rows.append([(s, w / total) for s, w in taps])
    return rows


def _ref_resize_1d(img: np.ndarray, axis: int, out_len: int, scale: float) -> np.ndarray:
    rows = _ref_weights(img.shape[axis], out_len, scale)
    src = np.moveaxis(img.astype(np.float64), axis, 0)
    out = np.empty((out_len,) + src.shape[1:])
    for i, taps in enumerate(rows):
        acc = np.zeros(src.shape[1:])
        for s, w in taps:
            acc = acc + w * src[s]
        out[i] = acc
    return np.moveaxis(out, 0, axis)


def ref_imresize(img: np.ndarray, scale: float) -> np.ndarray:
    h, w = img.shape[:2]
    out_shape = (math.ceil(h * scale), math.ceil(w * scale))
    out = img.astype(np.float64)
    for axis in (0, 1):  # equal scales: MATLAB's stable sort keeps rows first
        out = _ref_resize_1d(out, axis, out_shape[axis], scale)
        if img.dtype == np.uint8:  # imresizemex returns the input class after each pass
            out = np.clip(np.round(out), 0, 255)
    return out.astype(img.dtype) if img.dtype == np.uint8 else out


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return data.astronaut()[100:180, 150:246]  # real texture: 80 x 96 x 3 uint8


@pytest.mark.parametrize("scale", [0.25, 0.5, 1 / 3, 2.0])
@pytest.mark.parametrize("shape", [(37, 29), (40, 52, 3)])
def test_matches_slow_reference_float(shape, scale):
    rng = np.random.default_rng(1)
    img = rng.random(shape)
    np.testing.assert_allclose(imresize(img, scale), ref_imresize(img, scale), atol=1e-12)


@pytest.mark.parametrize("scale", [0.25, 0.5, 2.0])
def test_matches_slow_reference_uint8_exactly(photo, scale):
    out = imresize(photo, scale)
    ref = ref_imresize(photo, scale)
    assert out.dtype == np.uint8
    assert np.array_equal(out, ref)


def test_uint8_within_one_level_of_rounded_float(photo):
    out = imresize(photo, 0.25).astype(np.int16)
    fl = np.clip(np.round(imresize(photo.astype(np.float64), 0.25)), 0, 255).astype(np.int16)
    diff = np.abs(out - fl)
    assert diff.max() <= 1
    assert diff.mean() < 0.2  # the pass-wise rounding moves few pixels


def test_uint8_beyond_one_level_only_where_intermediate_saturates():
    """Full photo: pass-wise rounding costs <= 1 level, except where the first (row) pass
    overshoots [0, 255] and MATLAB's uint8 intermediate clips it."""
    from ranksrgan.imresize import contributions

    img = data.astronaut()  # has saturated black/white edges
    h, w = img.shape[:2]
    out = imresize(img, 0.25).astype(np.int16)
    fl = np.clip(np.round(imresize(img.astype(np.float64), 0.25)), 0, 255).astype(np.int16)
    diff = np.abs(out - fl)
    wr, ir = contributions(h, h // 4, 0.25)
    rows = np.einsum("ok,okwc->owc", wr, img.astype(np.float64)[ir])  # first pass, float
    clipped = (rows < -0.5) | (rows > 255.5)
    _, ic = contributions(w, w // 4, 0.25)
    reach = clipped[:, ic, :].any(axis=2)  # output (i, j) reads intermediate (i, ic[j, :])
    assert (diff <= 1).mean() > 0.99
    assert reach[diff > 1].all()


@pytest.mark.parametrize("scale", [0.25, 0.5, 1 / 3, 2.0])
@pytest.mark.parametrize("shape", [(64, 48, 3), (67, 45, 3), (33, 50)])
def test_matches_pyiqa_matlab_resize(shape, scale):
    pyiqa_resize = pytest.importorskip("pyiqa.matlab_utils").imresize
    torch = pytest.importorskip("torch")
    img = np.random.default_rng(2).random(shape)
    t = torch.from_numpy(img)
    t = t.permute(2, 0, 1)[None] if img.ndim == 3 else t[None, None]
    theirs = pyiqa_resize(t, scale=scale, antialiasing=True)[0]
    theirs = theirs.permute(1, 2, 0).numpy() if img.ndim == 3 else theirs[0].numpy()
    ours = imresize(img, scale)
    assert ours.shape == theirs.shape
    # pyiqa computes in float32: agreement to float32 precision on [0, 1] data.
    assert np.abs(ours - theirs).max() < 1e-5


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_constant_image_stays_constant(dtype):
    img = np.full((30, 22, 3), 200, dtype=dtype)
    for scale in (0.25, 0.5, 3.0):
        out = imresize(img, scale)
        assert out.dtype == dtype
        np.testing.assert_allclose(out.astype(np.float64), 200.0, atol=1e-9)


@pytest.mark.parametrize("h,w,scale", [(10, 10, 0.25), (13, 7, 0.25), (5, 9, 0.5), (7, 3, 3.0),
                                       (100, 81, 1 / 3)])
def test_output_shape_is_ceil(h, w, scale):
    out = imresize(np.zeros((h, w), dtype=np.uint8), scale)
    assert out.shape == (math.ceil(h * scale - 1e-9), math.ceil(w * scale - 1e-9))


def test_2d_equals_each_channel_of_3d(photo):
    out3 = imresize(photo, 0.25)
    for c in range(3):
        assert np.array_equal(imresize(photo[:, :, c], 0.25), out3[:, :, c])


def test_float_in_float_out_and_range_not_clipped():
    img = np.zeros((16, 16), dtype=np.float32)
    img[::2] = 1.0  # high-frequency stripes: cubic overshoot gives values outside [0, 1]
    out = imresize(img, 2.0)
    assert out.dtype == np.float32
    assert out.max() > 1.0 or out.min() < 0.0


def test_uint8_saturates():
    img = np.zeros((16, 16), dtype=np.uint8)
    img[::2] = 255
    out = imresize(img, 2.0)
    assert out.dtype == np.uint8 and out.max() == 255 and out.min() == 0


def test_output_shape_override():
    out = imresize(np.zeros((20, 30, 3)), 0.25, output_shape=(4, 9))
    assert out.shape == (4, 9, 3)


@pytest.mark.parametrize("bad", [np.zeros((4,)), np.zeros((2, 2, 2, 2))])
def test_rejects_bad_ndim(bad):
    with pytest.raises(RankSRGANError, match="expected HxW"):
        imresize(bad, 0.5)


def test_rejects_bad_scale():
    with pytest.raises(RankSRGANError, match="scale"):
        imresize(np.zeros((8, 8)), 0)


def test_im2double_path_matches_reference_and_matlab_rounding(photo):
    from ranksrgan.imresize import imresize_im2double

    out = imresize_im2double(photo, 0.25)
    # MATLAB: imwrite(imresize(im2double(x))) = uint8(255 * y), round half away from zero.
    y = np.zeros(out.shape)
    for c in range(3):
        y[:, :, c] = ref_imresize(photo[:, :, c].astype(np.float64) / 255.0, 0.25) * 255.0
    assert np.array_equal(out, np.clip(np.floor(y + 0.5), 0, 255).astype(np.uint8))
    # ... and within one grey level of the uint8 (pass-wise rounding) path.
    assert np.abs(out.astype(int) - imresize(photo, 0.25).astype(int)).max() <= 1
    with pytest.raises(RankSRGANError, match="expected uint8"):
        imresize_im2double(photo.astype(np.float32), 0.25)
