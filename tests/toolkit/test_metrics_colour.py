"""Luma conversions: MATLAB's rgb2ycbcr / rgb2gray arithmetic, 8-bit rounding ties included."""

import numpy as np
import pytest
import torch

from ranksrgan.metrics.colour import _GRAY, _YCBCR_Y, rgb_to_luma


def _tie_colours() -> tuple[np.ndarray, int]:
    """All 8-bit RGB triples whose exact Y lies on a .5 boundary (where the rounding is decided
    by the floating-point order of the sums), plus a spread of ordinary colours; and the number
    of ties."""
    v = np.arange(256, dtype=np.int64)
    r, g, b = (a.ravel() for a in np.meshgrid(v, v, v, indexing="ij"))
    ties = (65481 * r + 128553 * g + 24966 * b) % 255000 == 127500
    rng = np.random.default_rng(0)
    sample = rng.choice(r.size, 5000, replace=False)
    pick = np.concatenate([np.flatnonzero(ties), sample])
    return np.stack([r[pick], g[pick], b[pick]], axis=1).astype(np.float64), int(ties.sum())


def _matlab_order(rgb: np.ndarray, weights, offset: float) -> np.ndarray:
    # imlincomb: ((K1 A1 + K2 A2) + K3 A3) + offset in double, each step rounded (numpy: no FMA).
    return ((weights[0] * rgb[:, 0] + weights[1] * rgb[:, 1]) + weights[2] * rgb[:, 2]) + offset


@pytest.mark.parametrize(
    "colour,weights,offset",
    [("y", [(1.0 / 255.0) * c for c in _YCBCR_Y], 16.0), ("gray", list(_GRAY), 0.0)],
)
def test_luma_follows_matlab_arithmetic_on_rounding_ties(colour, weights, offset):
    rgb, n_ties = _tie_colours()
    assert n_ties > 0
    x = torch.from_numpy(rgb.T.reshape(1, 3, 1, -1) / 255.0)
    exact = _matlab_order(rgb, weights, offset)
    ours_raw = rgb_to_luma(x, colour, quantize=False).reshape(-1).numpy()
    ours_u8 = rgb_to_luma(x, colour, quantize=True).reshape(-1).numpy()
    np.testing.assert_array_equal(ours_raw, exact)
    np.testing.assert_array_equal(ours_u8, np.clip(np.floor(exact + 0.5), 0, 255))


def test_luma_rejects_bad_shapes_and_colours():
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        rgb_to_luma(torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="colour must be one of"):
        rgb_to_luma(torch.zeros(1, 3, 4, 4), "lab")
