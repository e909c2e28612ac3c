"""Vectorised pieces of the NRQM (Ma) feature extraction.

- ``resize_matrices``: pyiqa's MATLAB-style bicubic resize is linear and separable, so
  resizing is ``A_h @ X @ A_w.T``; the two matrices are obtained once per size by resizing
  identity matrices with the reference routine (so results equal it to rounding), then every
  band of a batch is resized by one batched matmul instead of a gather per tap.
- ``norm_sender_normalized``: the divisive-normalisation neighbourhood regression of all six
  orientation bands of a scale at once (batched covariance, eigen-fix and solve).
"""

from __future__ import annotations

from functools import lru_cache

import torch


@lru_cache(maxsize=32)
def _resize_matrix_1d(in_len: int, out_len: int) -> torch.Tensor:
    from pyiqa.matlab_utils import imresize

    eye = torch.eye(in_len, dtype=torch.float64)
    # Width scale 1 is an identity in the reference, so this resizes along rows only.
    return imresize(eye, sizes=(out_len, in_len)).contiguous()


def resize_matrices(in_hw, out_hw, dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(A_h, A_w) with resize(X) = A_h @ X @ A_w.T, as pyiqa's ``imresize(X, sizes=out_hw)``."""
    a_h = _resize_matrix_1d(int(in_hw[0]), int(out_hw[0])).to(device=device, dtype=dtype)
    a_w = _resize_matrix_1d(int(in_hw[1]), int(out_hw[1])).to(device=device, dtype=dtype)
    return a_h, a_w


def resize(x: torch.Tensor, out_hw) -> torch.Tensor:
    """Bicubic (MATLAB) resize of ... x H x W to ``out_hw`` via two matmuls."""
    a_h, a_w = resize_matrices(x.shape[-2:], out_hw, x.dtype, x.device)
    # The reference runs in float32 whatever the input (pyiqa's cast_input always casts):
    # round the input, the row pass and the result to float32 as it does, accumulating each
    # pass in the working precision (so only the float32 summation order differs).
    rows = (a_h @ x.float().to(x.dtype)).float().to(x.dtype)
    return (rows @ a_w.T).float().to(x.dtype)


def norm_sender_normalized(pyr, num_scale=2, num_bands=6, blksz=3, eps=1e-12):
    """Divisive normalisation of the 12 pyramid bands (pyiqa's ``norm_sender_normalized``).

    Same arithmetic as the reference, per band: a neighbourhood vector (3x3 window, the
    resized parent band, the other orientations), its uncentred covariance with negative
    eigenvalues removed, and the Mahalanobis-style norm that divides the centred band. The
    parents of a scale are resized together (one pair of matmuls); the neighbourhood matrix
    is built one band at a time so that it stays small (~20 MB at 510x339, not ~130 MB: large
    fresh tensors cost more in page faults than the arithmetic).
    """
    border = blksz // 2
    guardband = 16
    out = []
    for si in range(num_scale):
        bands = torch.stack(pyr[si * num_bands : (si + 1) * num_bands], dim=1)  # b x nb x H x W
        b, nb, h, w = bands.shape
        hh, ww = h - 2 * border, w - 2 * border
        centre = bands[:, :, border:-border, border:-border]
        up = None
        if (si + 1) * num_bands < len(pyr):
            parents = torch.stack(pyr[(si + 1) * num_bands : (si + 2) * num_bands], dim=1)
            up = resize(parents, (h, w))[:, :, border:-border, border:-border]
        gb = int(guardband / (2**si))
        for bi in range(nb):
            band = bands[:, bi]
            # Neighbourhood vectors with the feature axis before the pixel axis (b x K x hw):
            # every piece is then a contiguous block, and the covariance a plain matmul.
            cols = [band[:, i : i + hh, j : j + ww] for i in range(blksz) for j in range(blksz)]
            if up is not None:
                cols.append(up[:, bi])
            n_nb = len(cols)
            cols += [centre[:, ni] for ni in range(nb) if ni != bi]
            tmp = torch.stack(cols, dim=1).reshape(b, len(cols), hh * ww)
            c_x = tmp @ tmp.transpose(-1, -2) / tmp.shape[-1]
            lam, q = torch.linalg.eigh(c_x)
            lam_pos = lam * (lam > 0)
            lam_pos_sum = lam_pos.sum(dim=-1, keepdim=True)
            lam = (
                lam_pos
                * lam.sum(dim=-1, keepdim=True)
                / (lam_pos_sum + (lam_pos_sum == 0).to(lam.dtype))
            )
            c_x = q @ torch.diag_embed(lam) @ q.transpose(-1, -2)
            # The reference solves C' sol = tmp for all pixels; with 16 x 16 systems and ~10^5
            # right-hand sides, one small inverse and a matmul is ~2x faster (agrees to ~1e-15).
            sol = torch.linalg.inv(c_x.transpose(-1, -2)) @ tmp
            z = ((sol * tmp).sum(dim=-2) / n_nb).sqrt()  # b x hw
            o_c = centre[:, bi].reshape(b, hh * ww)
            o_c = o_c - o_c.mean(dim=-1, keepdim=True)
            mask = z != 0
            g_c = (o_c * mask / (z * mask + eps)).reshape(b, hh, ww)
            g_c = g_c[..., gb:-gb, gb:-gb]
            out.append(g_c - g_c.mean(dim=(-2, -1), keepdim=True))
    return out
