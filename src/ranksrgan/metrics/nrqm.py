"""Ma et al.'s NRQM ("Ma" score) and the PIRM Perceptual Index, batched and vectorised.

Features follow pyiqa's NRQM port of the MATLAB ``sr-metric`` code, so that our Ma equals
pyiqa's on the same model file; pyiqa (a declared dependency) still supplies the steerable
pyramid, the Gaussian pyramid, the block DCT and im2col helpers. What is ours, and why it is fast:
- the divisive normalisation of the 12 bands runs per scale on all six orientations at once
  and the bicubic up-sampling of the bands is a cached pair of matrices (see nrqm_fast);
- the 27 SSIM contrast-structure terms share each band's filtered moments across its pairs;
- the generalised-Gaussian shape lookup bisects the monotone ratio table instead of building
  an (items x 9971) difference table (pyiqa: an unchunked ~1.5 GB lookup);
- the SSIM window runs as one batched separable 'valid' filter, not 27 2-D convolutions;
- the three forests are walked for every tree and image at once on node arrays (one step per
  tree level), instead of a Python loop over trees.
PI = ((10 - Ma) + NIQE) / 2 (Blau et al., PIRM 2018).

Flat images (decision, issue 19): Ma, like NIQE, is undefined on a constant image and raises
:class:`~ranksrgan.errors.MetricUndefinedError` ("image is flat (constant luma 16): Ma
undefined, no pyramid band has contrast"); PI then too. The reference arithmetic has no value
there either: every pyramid band is zero up to FFT rounding, so the divisive normalisation's
covariance is singular. Where rounding happens to leave it invertible the forests still return
a number (an all-black 300 x 300 image gave Ma 6.03, an all-black 128 x 128 one a
singular-matrix error), but that number is read from rounding noise, not from the image, so
it is refused. Any other singular normalisation is reported the same way. Images with any
contrast are scored exactly as before.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from ranksrgan.errors import MetricUndefinedError, RankSRGANError
from ranksrgan.metrics import Metric
from ranksrgan.metrics.colour import COLOURS, rgb_to_luma, shave
from ranksrgan.metrics.distortion import ssim_window, valid_filter
from ranksrgan.metrics.models import Forest, NRQMModel, load_nrqm
from ranksrgan.metrics.nrqm_fast import norm_sender_normalized, resize

# the stand-in note of every Ma / PI score made with a synthetic model (params["stand_in"])
SYNTHETIC_NOTE = "SYNTHETIC NRQM model"
MIN_SIZE = 64  # the feature extraction (pyramid guard bands, 7x7 DCT blocks) needs this much


def _pyiqa():
    try:
        import pyiqa.archs.nrqm_arch as P
        from pyiqa.matlab_utils import SCFpyr_PyTorch, dct2d, im2col, imresize
    except ImportError as exc:  # pragma: no cover - pyiqa is a declared dependency
        raise RankSRGANError(f"Ma/PI need the pyiqa package ({exc})") from None
    return P, SCFpyr_PyTorch, dct2d, im2col, imresize


# ---------------------------------------------------------------- generalised Gaussian shape
_GAMMA_CACHE: dict = {}


def _gamma_table(device, dtype):
    key = (str(device), dtype)
    if key not in _GAMMA_CACHE:
        # Same grid as the reference (a float32 arange, then cast), so the chosen shapes agree.
        gamma = torch.arange(0.03, 10 + 0.001, 0.001).to(device=device, dtype=dtype)
        r = (
            torch.lgamma(1.0 / gamma) + torch.lgamma(3.0 / gamma) - 2 * torch.lgamma(2.0 / gamma)
        ).exp()
        neg = -r  # r decreases with gamma, so -r is sorted ascending for bisection
        if not bool((neg[1:] > neg[:-1]).all()):
            raise AssertionError("generalised Gaussian ratio table is not monotone")
        _GAMMA_CACHE[key] = (gamma, neg.contiguous())
    return _GAMMA_CACHE[key]


def gamma_gen_gauss(x: torch.Tensor) -> torch.Tensor:
    """Shape of the generalised Gaussian fitted to the last dimension (nearest table entry)."""
    gamma, neg = _gamma_table(x.device, x.dtype)
    eps = 1e-7
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True, unbiased=True)
    mean_abs = (x - mean).abs().mean(dim=-1, keepdim=True) ** 2
    rho = (var / (mean_abs + eps)).squeeze(-1)
    v = -rho
    hi = torch.searchsorted(neg, v.contiguous()).clamp(1, neg.numel() - 1)
    lo = hi - 1
    pick = torch.where((neg[hi] - v).abs() < (neg[lo] - v).abs(), hi, lo)  # first index on ties
    return gamma[pick]


# ---------------------------------------------------------------- features
def _block_dct(img: torch.Tensor, P, dct2d) -> torch.Tensor:
    from pyiqa.archs.func_util import extract_2d_patches

    blocks = dct2d(extract_2d_patches(img, 7, 3))
    b, _, _, h, w = blocks.shape
    flat = blocks.reshape(b, -1, h * w)[:, :, 1:]
    g = torch.sort(gamma_gen_gauss(flat), dim=-1)[0]
    cv = P.coeff_var_dct(blocks)
    ori = P.oriented_dct_rho(blocks)
    return torch.stack(
        [
            g[:, : math.ceil(0.1 * g.shape[-1]) + 1].mean(-1),
            g.mean(-1),
            cv[:, math.floor(0.9 * cv.shape[-1]) :].mean(-1),
            cv.mean(-1),
            ori[:, math.floor(0.9 * ori.shape[-1]) :].mean(-1),
            ori.mean(-1),
        ],
        dim=1,
    )


def cs_means(a: torch.Tensor, b: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    """Mean SSIM contrast-structure term (clipped at 0) of pairs ... x H x W, 'valid' window."""
    g = ssim_window(a.dtype, a.device)
    f = valid_filter(torch.stack([a, b, a * a, b * b, a * b], dim=-3), g)
    mu1, mu2, e11, e22, e12 = f.unbind(-3)
    return _cs_from_moments(mu1, mu2, e11, e22, e12, data_range)


def _cs_from_moments(mu1, mu2, e11, e22, e12, data_range: float = 255.0) -> torch.Tensor:
    c2 = (0.03 * data_range) ** 2
    s11, s22, s12 = e11 - mu1**2, e22 - mu2**2, e12 - mu1 * mu2
    cs = torch.relu((2 * s12 + c2) / (s11 + s22 + c2))
    return cs.mean(dim=(-2, -1))


def cs_means_vs_one(
    a: torch.Tensor, b: torch.Tensor, data_range: float = 255.0, group: int = 2
) -> torch.Tensor:
    """``cs_means(a[:, k], b)`` for every k of a (N x K x H x W) against one b (N x H x W).

    b's local mean and second moment are filtered once, not once per pair; a's bands go
    ``group`` at a time so the filtered maps stay small (fresh ~50 MB tensors page-fault).
    """
    g = ssim_window(a.dtype, a.device)
    fb = valid_filter(torch.stack([b, b * b], dim=1), g)
    bb = b.unsqueeze(1)
    out = []
    for s in a.split(group, dim=1):
        fa = valid_filter(torch.cat([s, s * s, s * bb], dim=1), g)
        mu1, e11, e12 = fa.chunk(3, dim=1)
        out.append(_cs_from_moments(mu1, fb[:, :1], e11, fb[:, 1:], e12, data_range))
    return torch.cat(out, dim=1)


def cs_means_pairs(s: torch.Tensor, ii, jj, data_range: float = 255.0) -> torch.Tensor:
    """``cs_means(s[:, i], s[:, j])`` for the index pairs (ii, jj) of bands s (N x K x H x W).

    Each band's local mean and second moment are filtered once and shared by its pairs.
    """
    g = ssim_window(s.dtype, s.device)
    ii, jj = list(ii), list(jj)
    k = s.shape[1]
    f = valid_filter(torch.cat([s, s * s, s[:, ii] * s[:, jj]], dim=1), g)
    mu, e2, e12 = f[:, :k], f[:, k : 2 * k], f[:, 2 * k :]
    return _cs_from_moments(mu[:, ii], mu[:, jj], e2[:, ii], e2[:, jj], e12, data_range)


def _global_gsm(img: torch.Tensor, P, SCFpyr, imresize) -> torch.Tensor:
    n = img.shape[0]
    nb = 6
    pyr = SCFpyr(height=2, nbands=nb, device=img.device).build(img)
    lp = [x[..., 0] for x in pyr[1]] + [x[..., 0] for x in pyr[2]]
    sub = norm_sender_normalized(lp)
    feat = [gamma_gen_gauss(s.reshape(n, -1)) for s in sub]
    feat += [
        gamma_gen_gauss(torch.cat((sub[i].reshape(n, -1), sub[i + nb].reshape(n, -1)), 1))
        for i in range(nb)
    ]
    hp = pyr[0]
    # One batched resize per scale (a pair of matmuls) instead of 12 reference calls.
    up = torch.cat(
        [resize(torch.stack(lp[k : k + nb], dim=1), hp.shape[1:]) for k in (0, nb)], dim=1
    )  # n x 12 x H x W
    feat += list(cs_means_vs_one(up, hp).unbind(1))
    ii, jj = zip(*[(i, j) for i in range(nb) for j in range(i + 1, nb)], strict=True)
    s0 = torch.stack(sub[:nb], dim=1)
    feat += list(cs_means_pairs(s0, ii, jj).unbind(1))
    return torch.stack(feat, dim=1)


def nrqm_features(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DCT (18), GSM (45) and SVD (75) feature groups of luma N x H x W on [0, 255]."""
    P, SCFpyr, dct2d, im2col, imresize = _pyiqa()
    img = y.to(torch.float64).unsqueeze(1)
    pyr = P.get_gauss_pyramid(img / 255.0)
    f1 = torch.cat([_block_dct(im, P, dct2d) for im in pyr], dim=1)
    f2 = _global_gsm(img, P, SCFpyr, imresize)
    f3 = torch.cat([torch.linalg.svdvals(im2col(im, 5, "distinct")) for im in pyr], dim=1)
    return f1, f2, f3


# ---------------------------------------------------------------- forests
def forest_predict(forest: Forest, feat: np.ndarray) -> np.ndarray:
    """Mean prediction of a regression forest for each row of ``feat`` (N x F).

    Walks every (image, tree) pair at once: at each step, pairs on a split node move to the
    left daughter when the feature is <= the threshold, else to the right; a daughter index
    of 0 marks a terminal node, whose ``avnode`` value is the tree's prediction.
    """
    feat = np.asarray(feat, dtype=np.float64)
    n_nodes, n_trees = forest.ldau.shape
    trees = np.arange(n_trees)[None, :]
    k = np.zeros((feat.shape[0], n_trees), dtype=np.int64)
    rows = np.arange(feat.shape[0])[:, None]
    for _ in range(n_nodes):
        left = forest.ldau[k, trees]
        active = left != 0
        if not active.any():
            break
        col = forest.mbest[k, trees] - 1
        go_left = feat[rows, np.where(active, col, 0)] <= forest.upper[k, trees]
        nxt = np.where(go_left, left, forest.rdau[k, trees]) - 1
        k = np.where(active, nxt, k)
    return forest.avnode[k, trees].mean(axis=1)


def ma_from_luma(y: torch.Tensor, model: NRQMModel) -> torch.Tensor:
    """Ma score of luma images N x H x W on [0, 255].

    Raises:
        MetricUndefinedError: a constant image, or a band whose normalisation is singular.
    """
    from ranksrgan.metrics.niqe import refuse_flat

    refuse_flat(y, "Ma", "no pyramid band has contrast")
    try:
        feats = nrqm_features(y)
    except torch.linalg.LinAlgError:
        raise MetricUndefinedError(
            "Ma undefined: a steerable-pyramid band has no contrast, so its divisive "
            "normalisation is singular (flat or nearly flat image)"
        ) from None
    preds = [forest_predict(f, x.cpu().numpy()) for f, x in zip(model.forests, feats, strict=True)]
    design = np.column_stack([np.ones(y.shape[0])] + preds)
    return torch.from_numpy(design @ model.linear)


@lru_cache(maxsize=4)
def _cached_model(path: str, mtime: float) -> NRQMModel:
    return load_nrqm(path)


def _model(model_path: str | None) -> NRQMModel:
    import os

    if not model_path:
        raise RankSRGANError("Ma/PI need model_path= (NRQM_model.mat; see metric_models.nrqm)")
    if not os.path.isfile(model_path):
        raise RankSRGANError(f"{model_path}: NRQM model file not found (metric_models.nrqm.path)")
    return _cached_model(str(model_path), os.path.getmtime(model_path))


def _ma_params(model: NRQMModel, colour, shave_px, quantize) -> dict:
    return {
        "colour": colour,
        "shave": shave_px,
        "quantize": bool(quantize),
        "nrqm_model": "SYNTHETIC" if model.synthetic else "real",
        "nrqm_sha256": model.sha256,
        # the one stand-in encoding (ranksrgan.io.contracts): a note, "" for the real model
        "stand_in": SYNTHETIC_NOTE if model.synthetic else "",
    }


def build_ma(
    device: torch.device,
    colour: str = "y",
    shave: int = 4,
    quantize: bool = True,
    model_path: str | None = None,
) -> Metric:
    """Ma (NRQM) metric object. A synthetic model file makes every score a labelled stand-in."""
    if colour not in COLOURS:
        raise ValueError(f"ma colour must be one of {COLOURS}, got {colour!r}")
    model = _model(model_path)
    s = int(shave)

    def run(x: torch.Tensor) -> torch.Tensor:
        return ma_from_luma(_shave(rgb_to_luma(x, colour, quantize), s), model)

    return Metric(
        "ma",
        run,
        lower_better=False,
        full_reference=False,
        params=_ma_params(model, colour, s, quantize),
        device=device,
        min_size=MIN_SIZE + 2 * s,
    )


def build_pi(
    device: torch.device,
    colour: str = "y",
    shave: int = 4,
    quantize: bool = True,
    model_path: str | None = None,
    block: int = 96,
    params_path: str | None = None,
) -> Metric:
    """PI = ((10 - Ma) + NIQE) / 2 with both on the same luma and shave."""
    from ranksrgan.metrics.niqe_metric import build_niqe

    ma = build_ma(device, colour, shave, quantize, model_path)
    niqe = build_niqe(device, colour, shave, block, quantize, params_path)

    def run(x: torch.Tensor) -> torch.Tensor:
        try:
            return ((10.0 - ma(x)) + niqe(x)) / 2.0
        except MetricUndefinedError as exc:
            raise MetricUndefinedError(f"PI undefined: {exc}") from None

    params = {
        **ma.params,
        "block": niqe.params["block"],
        "niqe_params_sha256": niqe.params["niqe_params_sha256"],
    }
    return Metric(
        "pi",
        run,
        lower_better=True,
        full_reference=False,
        params=params,
        device=device,
        min_size=max(ma.min_size, niqe.min_size),
    )


_shave = shave
