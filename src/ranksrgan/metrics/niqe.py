"""NIQE (Mittal et al. 2013), batched, following the MATLAB release the PIRM-SR code runs.

MATLAB semantics kept on purpose (they decide ties and degenerate blocks):
- blocks are ``blkproc`` tiles without overlap; the image is cropped to whole blocks;
- the pairwise products use ``circshift`` inside each block (wrap-around);
- the AGGD shape is ``gam(argmin((r_gam - rhatnorm).^2))``, first index on ties, index 1
  when ``rhatnorm`` is NaN (a block with no negative or no positive coefficient);
- ``nanmean`` per feature, ``nancov`` over complete rows; a single block makes ``nancov``
  treat the row as a vector (the variance of its 36 values), as MATLAB does;
- residuals |im - mu| < 1e-9 (flat regions) are set to exactly 0 (see _normalize_padded);
- the second scale is MATLAB ``imresize(im, 0.5)`` of the double image (no rounding).

Where NIQE has no value it says why instead of returning NaN or failing inside
``torch.linalg``: a block whose MSCN coefficients (or one of the four pairwise products) have
no negative or no positive value has undefined AGGD features, and with fewer such complete
blocks than the fit needs (one for a single-block image, else two for the covariance) the
score is undefined. :func:`niqe_luma` then raises
:class:`~ranksrgan.errors.MetricUndefinedError`: "image is flat (constant luma 16): NIQE
undefined, no block has local contrast" for a constant image, or the count of usable blocks
for one that is flat except for edges or ramps. Scores of every other image are unchanged
(the check only reads the features). Ma refuses constant images too (see ``nrqm``).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from scipy.special import gamma as gamma_fn

from ranksrgan.errors import MetricUndefinedError
from ranksrgan.metrics.distortion import valid_filter
from ranksrgan.metrics.resize import imresize_double

BLOCK = 96
FLAT_TOL = 1e-9  # |im - local mean| below this (on 0..255) counts as exactly 0
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))
CHUNK_PX = 1 << 17  # pixels per band of work on CPU (speed only; see scale_features)
# On CUDA the caching allocator reuses memory without page faults and each band costs kernel
# launches, so bands are as large as memory comfortably allows (a 64-patch batch at once).
CHUNK_PX_CUDA = 1 << 24


def default_chunk_px(device: torch.device) -> int:
    """Band size for ``scale_features`` on this device."""
    return CHUNK_PX if torch.device(device).type == "cpu" else CHUNK_PX_CUDA


@lru_cache(maxsize=1)
def _tables_np() -> tuple[np.ndarray, ...]:
    gam = 0.2 + 0.001 * np.arange(9801, dtype=np.float64)  # MATLAB 0.2:0.001:10
    r_gam = gamma_fn(2.0 / gam) ** 2 / (gamma_fn(1.0 / gam) * gamma_fn(3.0 / gam))
    beta_factor = np.sqrt(gamma_fn(1.0 / gam) / gamma_fn(3.0 / gam))
    mean_factor = gamma_fn(2.0 / gam) / gamma_fn(1.0 / gam)
    if not np.all(np.diff(r_gam) > 0):  # the nearest-entry search below relies on it
        raise AssertionError("r_gam table is not increasing")
    return gam, r_gam, beta_factor, mean_factor


_TABLE_CACHE: dict = {}


def _tables(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    key = (str(device), dtype)
    if key not in _TABLE_CACHE:
        _TABLE_CACHE[key] = tuple(
            torch.as_tensor(t, dtype=dtype, device=device) for t in _tables_np()
        )
    return _TABLE_CACHE[key]


_RADIUS = 3  # of the 7x7 MSCN window


def _gaussian_1d(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    # fspecial('gaussian', 7, 7/6) is the outer product of this normalised 1-D kernel.
    x = np.arange(-_RADIUS, _RADIUS + 1, dtype=np.float64)
    g = np.exp(-(x**2) / (2 * (7.0 / 6.0) ** 2))
    return torch.as_tensor(g / g.sum(), dtype=dtype, device=device)


def _pad_replicate(im: torch.Tensor) -> torch.Tensor:
    """N x H x W -> N x (H + 6) x (W + 6), edges repeated (``imfilter``'s 'replicate')."""
    r = _RADIUS
    return torch.nn.functional.pad(im.unsqueeze(1), (r, r, r, r), mode="replicate").squeeze(1)


def _mscn_parts(xp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(im - local mean, local std) of the centre of a padded band, before any snapping.

    Filtering a padded band is ``imfilter(im, w, 'replicate')`` on that band: each output pixel
    sums the same taps in the same order, so bands give the same values as the whole image.
    """
    g = _gaussian_1d(xp.device, xp.dtype)
    both = valid_filter(torch.stack([xp, xp * xp], dim=1), g)
    mu, mu2 = both[:, 0], both[:, 1]
    sigma = mu2.sub_(mu * mu).abs_().sqrt_()
    r = _RADIUS
    return xp[:, r:-r, r:-r] - mu, sigma


def _normalize_padded(xp: torch.Tensor) -> torch.Tensor:
    """MSCN coefficients of the centre of a replicate-padded band N x (H + 6) x (W + 6)."""
    resid, sigma = _mscn_parts(xp)
    # Where a pixel equals its local weighted mean (flat regions, linear ramps) im - mu is pure
    # rounding noise (~1e-13) whose sign depends on the order of the filter's sums, yet it
    # decides the AGGD left/right split; MATLAB's value there is as arbitrary. Snap it to an
    # exact 0 so scores are the same on every device and order (see snapped_pixels).
    resid.masked_fill_(resid.abs() < FLAT_TOL, 0.0)
    return resid.div_(sigma.add_(1.0))


def _crop_to_blocks(img: torch.Tensor, block: int) -> torch.Tensor:
    """MATLAB's NIQE crops N x H x W to whole blocks (drops the bottom and right remainders)."""
    h, w = img.shape[-2:]
    return img[..., : h // block * block, : w // block * block]


def aggd_fit(v: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """MATLAB ``estimateaggdparam`` over the last dimension: (alpha, betal, betar, mean_factor)."""
    gam, r_gam, beta_factor, mean_factor = _tables(v.device, v.dtype)
    # Each statistic is one fused reduction (no v*v or mask temporaries): zeros count on
    # neither side, and the right-hand sum of squares is the total minus the left.
    vneg = v.clamp(max=0)
    n_neg = torch.count_nonzero(vneg, dim=-1)
    n_pos = torch.count_nonzero(v, dim=-1) - n_neg
    v2_sum = torch.linalg.vecdot(v, v)
    v2_neg = torch.linalg.vecdot(vneg, vneg)
    left = torch.sqrt(v2_neg / n_neg)  # 0/0 = NaN like mean([]) in MATLAB
    right = torch.sqrt((v2_sum - v2_neg) / n_pos)
    gammahat = left / right
    k = v.shape[-1]
    rhat = (torch.linalg.vector_norm(v, 1, dim=-1) / k) ** 2 / (v2_sum / k)
    rhatnorm = rhat * (gammahat**3 + 1) * (gammahat + 1) / (gammahat**2 + 1) ** 2
    # Nearest table entry by bisection (r_gam increases), first index on ties, as min().
    hi = torch.searchsorted(r_gam, rhatnorm.nan_to_num(nan=-1.0).contiguous()).clamp(
        1, len(r_gam) - 1
    )
    lo = hi - 1
    d_lo = (r_gam[lo] - rhatnorm) ** 2
    d_hi = (r_gam[hi] - rhatnorm) ** 2
    idx = torch.where(d_hi < d_lo, hi, lo)
    idx = torch.where(torch.isnan(rhatnorm), torch.zeros_like(idx), idx)
    return gam[idx], left * beta_factor[idx], right * beta_factor[idx], mean_factor[idx]


def _blocks(x: torch.Tensor, bs: int) -> torch.Tensor:
    """Tiles of N x H x W in MATLAB blkproc (column-major) order: N x B x bs x bs."""
    n, h, w = x.shape
    nbh, nbw = h // bs, w // bs
    return x.reshape(n, nbh, bs, nbw, bs).permute(0, 3, 1, 2, 4).reshape(n, nbh * nbw, bs, bs)


def _mul_circshift(blk: torch.Tensor, shift: tuple[int, int], out: torch.Tensor) -> None:
    """out = blk * circshift(blk, shift) within each tile (last two dims), without a copy."""
    bs = blk.shape[-1]
    ki, kj = shift[0] % bs, shift[1] % bs
    # circshift moves source [0, bs - k) to [k, bs) and the wrapped [bs - k, bs) to [0, k).
    rows = [(slice(ki, bs), slice(0, bs - ki))] + (
        [(slice(0, ki), slice(bs - ki, bs))] if ki else []
    )
    cols = [(slice(kj, bs), slice(0, bs - kj))] + (
        [(slice(0, kj), slice(bs - kj, bs))] if kj else []
    )
    for rd, rs in rows:
        for cd, cs in cols:
            torch.mul(blk[..., rd, cd], blk[..., rs, cs], out=out[..., rd, cd])


def block_features(structdis: torch.Tensor, bs: int) -> torch.Tensor:
    """The 18 NIQE features of every bs x bs block of N x H x W: N x B x 18 (blkproc order)."""
    blk = _blocks(structdis, bs)
    n, b = blk.shape[:2]
    v = blk.new_empty(n, b, 5, bs, bs)
    v[:, :, 0] = blk
    for k, s in enumerate(_SHIFTS, start=1):
        _mul_circshift(blk, s, v[:, :, k])
    alpha, bl, br, mf = aggd_fit(v.reshape(n, b, 5, bs * bs))
    feats = [alpha[..., 0], (bl[..., 0] + br[..., 0]) / 2]
    for k in range(1, 5):
        feats += [alpha[..., k], (br[..., k] - bl[..., k]) * mf[..., k], bl[..., k], br[..., k]]
    return torch.stack(feats, dim=-1)


def scale_features(im: torch.Tensor, bs: int, chunk_px: int = CHUNK_PX) -> torch.Tensor:
    """NIQE features of one scale: MSCN then the 18 block features, N x B x 18.

    ``im`` (N x H x W) must be cropped to whole blocks. The work runs in bands of whole block
    rows (and groups of images) of about ``chunk_px`` pixels: the temporaries then stay in
    cache and in the allocator's reused memory, 4-6x faster on CPU than whole-image tensors
    that are freshly mapped (and page-faulted) on every call. Results do not depend on it.
    """
    n, h, w = im.shape
    nbh, nbw = h // bs, w // bs
    r = _RADIUS
    padded = _pad_replicate(im)
    if h * w <= chunk_px:
        imgs, rows = max(1, chunk_px // (h * w)), nbh
    else:
        imgs, rows = 1, max(1, chunk_px // (bs * w))
    feats = im.new_empty(n, nbw, nbh, 18)
    for i in range(0, n, imgs):
        for b0 in range(0, nbh, rows):
            b1 = min(nbh, b0 + rows)
            band = padded[i : i + imgs, b0 * bs : b1 * bs + 2 * r]
            f = block_features(_normalize_padded(band), bs)
            feats[i : i + imgs, :, b0:b1] = f.reshape(-1, nbw, b1 - b0, 18)
    return feats.reshape(n, nbw * nbh, 18)


def _nancov_mean(feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """MATLAB nanmean (per column) and nancov (complete rows) of N x B x F features."""
    n, b, f = feat.shape
    valid = ~torch.isnan(feat)
    mu = torch.where(valid, feat, 0).sum(1) / valid.sum(1)
    covs = []
    for i in range(n):
        x = feat[i]
        if b == 1:  # nancov of a vector: the variance of its non-NaN values, a scalar
            vals = x[0][valid[i, 0]]
            var = vals.var(unbiased=True) if vals.numel() > 1 else vals.new_tensor(float("nan"))
            covs.append(var.expand(f, f))
            continue
        rows = x[valid[i].all(1)]
        if rows.shape[0] < 2:
            covs.append(x.new_full((f, f), float("nan")))
            continue
        c = rows - rows.mean(0, keepdim=True)
        covs.append(c.T @ c / (rows.shape[0] - 1))
    return mu, torch.stack(covs)


def _which(i: int, n: int) -> str:
    return f"image {i + 1} of the batch of {n}: " if n > 1 else ""


def refuse_flat(img: torch.Tensor, metric: str, why: str = "no block has local contrast") -> None:
    """Raise :class:`MetricUndefinedError` for the first constant image of a batch N x H x W.

    A constant image has no local contrast at all: no-reference metrics built on local
    statistics (NIQE's MSCN coefficients, Ma's normalised pyramid bands) are undefined on it.
    """
    flat = img.amax(dim=(-2, -1)) == img.amin(dim=(-2, -1))
    if bool(flat.any()):
        i = int(flat.nonzero()[0, 0])
        value = float(img[i].reshape(-1)[0])
        raise MetricUndefinedError(
            f"{_which(i, img.shape[0])}image is flat (constant luma {value:g}): {metric} "
            f"undefined, {why}"
        )


def _refuse_undefined(im: torch.Tensor, feat: torch.Tensor) -> None:
    """Raise when NIQE cannot be fitted: too few blocks with every feature defined.

    ``feat`` is N x B x 36. NaN features come only from blocks without local contrast in some
    direction (AGGD side of size 0); ``_nancov_mean`` then gives a NaN mean (no complete block
    in a single-block image) or a NaN covariance (fewer than two complete blocks).
    """
    n, b = feat.shape[:2]
    need = min(b, 2)
    complete = (~torch.isnan(feat)).all(dim=-1).sum(dim=1)
    bad = complete < need
    if not bool(bad.any()):
        return
    i = int(bad.nonzero()[0, 0])
    try:
        refuse_flat(im[i : i + 1], "NIQE")  # the plainest reason first
    except MetricUndefinedError as exc:
        raise MetricUndefinedError(f"{_which(i, n)}{exc}") from None
    raise MetricUndefinedError(
        f"{_which(i, n)}NIQE undefined: {int(complete[i])} of {b} blocks have local contrast in "
        f"every direction, {need} needed (flat areas, straight edges or ramps only)"
    )


def snapped_pixels(img: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """Per luma image (N x H x W, [0, 255]): how many MSCN residuals NIQE snaps to 0.

    Counts both scales. Where it is non-zero the score depends on a convention (MATLAB's and
    pyiqa's depend on their float summation order), so implementations may differ there.
    """
    im = _crop_to_blocks(img, block)
    counts = torch.zeros(img.shape[0], dtype=torch.long, device=img.device)
    for scaled in (im, imresize_double(im, 0.5)):
        resid, _ = _mscn_parts(_pad_replicate(scaled))
        counts += (resid.abs() < FLAT_TOL).sum(dim=(1, 2))
    return counts


def niqe_luma(
    img: torch.Tensor,
    mu_pris: torch.Tensor,
    cov_pris: torch.Tensor,
    block: int = BLOCK,
    chunk_px: int | None = None,
) -> torch.Tensor:
    """NIQE of a batch of luma images N x H x W on the [0, 255] scale (float64 advised).

    Images must be at least ``block`` pixels in both dimensions (one whole block).
    ``chunk_px`` sets the band size of the work (default: by device); scores do not depend
    on it.

    Raises:
        MetricUndefinedError: an image is flat or has too few blocks with local contrast
            (see the module docstring); the message names its position in a batch.
    """
    n, h, w = img.shape
    nbh, nbw = h // block, w // block
    if nbh < 1 or nbw < 1:
        raise ValueError(f"NIQE needs at least {block}x{block} pixels, got {h}x{w}")
    im = _crop_to_blocks(img, block)
    chunk_px = chunk_px or default_chunk_px(img.device)
    feat = torch.cat(
        [
            scale_features(im, block, chunk_px),
            scale_features(imresize_double(im, 0.5), block // 2, chunk_px),
        ],
        dim=-1,
    )
    _refuse_undefined(im, feat)
    mu, cov = _nancov_mean(feat)
    mu_p = mu_pris.to(feat)
    cov_p = cov_pris.to(feat)
    inv = torch.linalg.pinv((cov_p + cov) / 2)
    d = (mu_p - mu).unsqueeze(1)
    q = (d @ inv @ d.transpose(1, 2)).reshape(n)
    return torch.sqrt(q)


def min_size(block: int = BLOCK) -> int:
    """Smallest image side NIQE accepts (after shaving)."""
    return block


def n_blocks(h: int, w: int, block: int = BLOCK) -> int:
    """Number of scale-1 blocks of an h x w image."""
    return math.floor(h / block) * math.floor(w / block)
