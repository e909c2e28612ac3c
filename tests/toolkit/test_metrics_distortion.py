"""PSNR/SSIM under the PIRM protocol, checked against independent computations."""

import numpy as np
import skimage.data
import torch
from skimage.metrics import structural_similarity

from ranksrgan.imresize import imresize
from ranksrgan.metrics import create_metric


def _pair():
    hr = skimage.data.astronaut()[:200, :240]
    lr = imresize(hr, 0.25)
    sr = imresize(lr, 4.0)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].double() / 255  # noqa: E731
    return hr, sr, t(sr), t(hr)


def _y(rgb):  # MATLAB rgb2ycbcr Y of uint8 (imlincomb with T = origT / 255, rounded half up)
    t = np.array([65.481, 128.553, 24.966]) / 255.0
    v = 16 + rgb @ t
    return np.floor(v + 0.5)


def test_psnr_matches_numpy_pirm_formula():
    hr, sr, x, ref = _pair()
    a, b = _y(sr.astype(np.float64))[4:-4, 4:-4], _y(hr.astype(np.float64))[4:-4, 4:-4]
    expected = 10 * np.log10(255**2 / np.mean((a - b) ** 2))
    got = create_metric("psnr")(x, ref).item()
    assert abs(got - expected) < 1e-9
    assert create_metric("psnr")(ref, ref).item() == float("inf")


def test_ssim_matches_scikit_image_gaussian_ssim():
    hr, sr, x, ref = _pair()
    a, b = _y(sr.astype(np.float64))[4:-4, 4:-4], _y(hr.astype(np.float64))[4:-4, 4:-4]
    sk_map = structural_similarity(
        a,
        b,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
        full=True,
    )[1]
    expected = sk_map[5:-5, 5:-5].mean()  # 'valid' region of the 11x11 window
    got = create_metric("ssim")(x, ref).item()
    assert abs(got - expected) < 1e-6
    assert abs(create_metric("ssim")(ref, ref).item() - 1.0) < 1e-12


def test_full_reference_interface():
    _, _, x, ref = _pair()
    m = create_metric("psnr", shave=0)
    assert m.full_reference and not m.lower_better and m.params["shave"] == 0
    assert m(torch.cat([x, ref]), torch.cat([ref, ref])).shape == (2,)
