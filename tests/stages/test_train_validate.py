"""Training validation: NIQE undefined on a flat output is NaN + a warning, never a stop."""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
import torch.nn.functional as F
from skimage import data

from ranksrgan.train.validate import Validator, ValImage


def _val_image(name: str, img: np.ndarray) -> ValImage:
    hr = img[:128, :128]
    lr = hr[::4, ::4]

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]

    return ValImage(name, t(lr), t(hr))


class Flat(torch.nn.Module):
    """An early GAN's output: one grey level everywhere."""

    def forward(self, x):
        return torch.full((x.shape[0], 3, x.shape[2] * 4, x.shape[3] * 4), 0.5)


class Bicubic(torch.nn.Module):
    def forward(self, x):
        return F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)


def test_flat_output_records_nan_niqe_and_warns(caplog):
    images = [_val_image("astronaut", data.astronaut()), _val_image("coffee", data.coffee())]
    validator = Validator(images, torch.device("cpu"))
    with caplog.at_level(logging.WARNING, logger="ranksrgan.train.validate"):
        rows = validator(Flat())
    assert [r["image"] for r in rows] == ["astronaut", "coffee"]
    assert all(math.isnan(r["niqe"]) for r in rows)
    assert all(math.isfinite(r["psnr"]) for r in rows)  # PSNR is defined on a flat image
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2 and "astronaut" in warned[0] and "flat" in warned[0]
    # a textured output still gets a finite NIQE
    rows = validator(Bicubic())
    assert all(math.isfinite(r["niqe"]) and r["niqe"] > 0 for r in rows)
