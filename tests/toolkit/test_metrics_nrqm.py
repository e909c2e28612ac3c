"""Ma (NRQM) and PI: our vectorised forests and batched features equal pyiqa's NRQM."""

import os
import re

import numpy as np
import pytest
import scipy.io
import skimage.data
import torch

from ranksrgan.errors import MetricUndefinedError, RankSRGANError
from ranksrgan.metrics import create_metric
from ranksrgan.metrics.colour import rgb_to_luma, shave
from ranksrgan.metrics.models import ensure_model_file, load_nrqm
from ranksrgan.metrics.nrqm import forest_predict, ma_from_luma
from ranksrgan.metrics.synthetic import write_synthetic_nrqm


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """Full-size synthetic model (3 forests x 2000 trees, 2881 nodes): the real structure."""
    p = tmp_path_factory.mktemp("nrqm") / "NRQM_model_SYNTHETIC.mat"
    write_synthetic_nrqm(p, seed=3, n_trees=2000)
    return p


def _pyiqa_params(path):
    mat = scipy.io.loadmat(path)["model"]
    rfs = []
    for i in range(3):
        t = mat["rf"][0, 0][0, i][0, 0]
        rfs.append([t[0], t[1], t[4], t[5], t[6]])
    return mat["linear"][0, 0], rfs


def test_synthetic_model_has_real_structure_and_is_labelled(model_path):
    m = load_nrqm(model_path)
    assert m.synthetic and "SYNTHETIC" in m.note
    for f, n_feat in zip(m.forests, (18, 45, 75), strict=True):
        assert f.ldau.shape == f.rdau.shape == f.upper.shape == f.avnode.shape == (2881, 2000)
        assert f.mbest.max() == n_feat or f.mbest.max() <= n_feat
    mat = scipy.io.loadmat(model_path)["model"]
    assert mat["rf"][0, 0][0, 0][0, 0]["lDau"].dtype == np.int32
    metric = create_metric("ma", model_path=str(model_path))
    assert metric.params["nrqm_model"] == "SYNTHETIC" and metric.stand_in


def test_forest_walk_equals_pyiqa_tree_loop(model_path):
    P = pytest.importorskip("pyiqa.archs.nrqm_arch")
    m = load_nrqm(model_path)
    _, rfs = _pyiqa_params(model_path)
    rng = np.random.default_rng(0)
    f = m.forests[0]
    lo, hi = f.upper.min(), f.upper.max()
    feats = rng.uniform(lo, hi, (3, 18))
    ours = forest_predict(f, feats)
    theirs = P.random_forest_regression(torch.from_numpy(feats), *rfs[0]).numpy().ravel()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_ma_and_pi_equal_pyiqa_on_full_size_model(model_path):
    P = pytest.importorskip("pyiqa.archs.nrqm_arch")
    x = (
        torch.from_numpy(skimage.data.coffee()[100:228, 150:310].copy())
        .permute(2, 0, 1)[None]
        .double()
        / 255
    )
    y = shave(rgb_to_luma(x, "y"), 4)
    linear, rfs = _pyiqa_params(model_path)
    theirs = float(P.nrqm(y[:, None], linear, rfs))
    ours = ma_from_luma(y, load_nrqm(model_path)).item()
    assert abs(ours - theirs) < 1e-5, (ours, theirs)
    ma = create_metric("ma", model_path=str(model_path))(x).item()
    niqe = create_metric("niqe")(x).item()
    pi = create_metric("pi", model_path=str(model_path))(x).item()
    assert abs(ma - ours) < 1e-12
    assert abs(pi - ((10 - ma) + niqe) / 2) < 1e-12


def test_missing_real_model_is_one_line_error(tmp_path):
    target = tmp_path / "NRQM_model.mat"
    with pytest.raises(RankSRGANError) as e:
        ensure_model_file(target, "http://127.0.0.1:9/NRQM_model.mat", None, timeout_s=2, retries=0)
    msg = str(e.value)
    assert str(target) in msg and "http://127.0.0.1:9/NRQM_model.mat" in msg and "\n" not in msg
    with pytest.raises(RankSRGANError, match="not found"):
        create_metric("ma", model_path=str(target))
    assert not os.path.exists(target)


def _coffee_luma(rows=slice(60, 252), cols=slice(100, 324)):
    x = torch.from_numpy(skimage.data.coffee()[rows, cols].copy()).permute(2, 0, 1)[None]
    return shave(rgb_to_luma(x.double() / 255, "y"), 4)


def test_shared_moment_cs_terms_equal_pairwise_cs_means():
    from ranksrgan.metrics.nrqm import cs_means, cs_means_pairs, cs_means_vs_one

    g = torch.Generator().manual_seed(0)
    s = torch.randn(2, 4, 40, 52, generator=g, dtype=torch.float64) * 30
    b = torch.randn(2, 40, 52, generator=g, dtype=torch.float64) * 30 + s[:, 0]
    ref = torch.stack([cs_means(s[:, k], b) for k in range(4)], dim=1)
    torch.testing.assert_close(cs_means_vs_one(s, b), ref, rtol=0, atol=1e-12)
    ii, jj = [0, 0, 1, 2], [1, 3, 2, 3]
    ref = torch.stack([cs_means(s[:, i], s[:, j]) for i, j in zip(ii, jj, strict=True)], dim=1)
    torch.testing.assert_close(cs_means_pairs(s, ii, jj), ref, rtol=0, atol=1e-12)


def test_batched_divisive_normalisation_and_resize_equal_pyiqa():
    P = pytest.importorskip("pyiqa.archs.nrqm_arch")
    from pyiqa.matlab_utils import SCFpyr_PyTorch, imresize

    from ranksrgan.metrics.nrqm_fast import norm_sender_normalized, resize

    img = _coffee_luma().unsqueeze(1)
    pyr = SCFpyr_PyTorch(height=2, nbands=6).build(img)
    lp = [x[..., 0] for x in pyr[1]] + [x[..., 0] for x in pyr[2]]
    theirs, ours = P.norm_sender_normalized(lp), norm_sender_normalized(lp)
    assert len(ours) == len(theirs) == 12
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape
        # the reference resizes parents in float32: agreement to float32 rounding only
        torch.testing.assert_close(a, b, rtol=0, atol=1e-4)
    for band in (lp[0], lp[6]):
        ref = imresize(band, sizes=pyr[0].shape[1:])
        torch.testing.assert_close(resize(band, pyr[0].shape[1:]), ref, rtol=1e-5, atol=1e-4)


# ------------------------------------------------------------ flat images (issue 19)


def _rgb(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(arr).permute(2, 0, 1)[None].double() / 255.0


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A small synthetic model: the flat-image decision does not depend on the forests."""
    p = tmp_path_factory.mktemp("nrqm_small") / "NRQM_model_SYNTHETIC.mat"
    write_synthetic_nrqm(p, seed=3, n_trees=20)
    return p


@pytest.mark.parametrize("side", [128, 300])
def test_ma_and_pi_refuse_a_constant_image_like_niqe(small_model, side):
    """Decision (nrqm module docstring): a flat image has no Ma, as it has no NIQE.

    Before, all-black gave a raw ``linalg.inv`` error at 128 px and Ma 6.03 at 300 px (a value
    read from FFT rounding noise) while NIQE failed.
    """
    black = _rgb(np.zeros((side, side, 3), np.uint8))
    flat = "image is flat (constant luma 16)"
    with pytest.raises(MetricUndefinedError) as exc:
        create_metric("ma", model_path=str(small_model))(black)
    assert str(exc.value) == f"{flat}: Ma undefined, no pyramid band has contrast"
    with pytest.raises(MetricUndefinedError) as exc:
        create_metric("pi", model_path=str(small_model))(black)
    assert str(exc.value).startswith(f"PI undefined: {flat}: Ma undefined")
    with pytest.raises(MetricUndefinedError, match=f"^{re.escape(flat)}: NIQE undefined"):
        create_metric("niqe")(black)


def test_ma_still_scores_images_with_some_contrast(small_model):
    # Two flat halves (NIQE undefined: no block has contrast in every direction) keep their
    # Ma value: only constant images are refused.
    # (A pure two-level step has pyramid bands with no contrast at all, whose normalisation is
    # singular or not depending on the CPU's LAPACK rounding: a little seeded texture gives
    # every band some contrast, so the check tests the flat-image rule and nothing else.)
    half = np.zeros((128, 128, 3), np.uint8)
    half[:, 64:] = 200
    half = np.clip(half + np.random.default_rng(0).integers(0, 4, half.shape), 0, 255)
    half = half.astype(np.uint8)
    assert np.isfinite(create_metric("ma", model_path=str(small_model))(_rgb(half)).item())
