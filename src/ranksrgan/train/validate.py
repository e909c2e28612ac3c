"""Validation on full held-out images: PSNR (Y, shave 4) and NIQE per image.

SR outputs are quantised to 8 bit first, as the images a user would save and score. NIQE is
undefined on a flat output (an early GAN's constant image): that row records NaN with a
warning instead of stopping the run.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import torch

from ranksrgan.errors import MetricUndefinedError
from ranksrgan.io import read_image
from ranksrgan.train.data import read_manifest

log = logging.getLogger(__name__)


@dataclass
class ValImage:
    """One validation pair, uint8 tensors 1 x 3 x H x W."""

    name: str
    lr: torch.Tensor
    hr: torch.Tensor


def load_val_set(manifest: str | os.PathLike, limit: int = 0) -> list[ValImage]:
    """Decode the validation manifest's images (the first ``limit`` by name; 0 = all)."""
    df = read_manifest(manifest)
    if limit:
        df = df.head(limit)

    def t(p):
        return torch.from_numpy(np.ascontiguousarray(read_image(p).transpose(2, 0, 1)))[None]

    return [ValImage(str(r.image), t(r.lr_path), t(r.hr_path)) for r in df.itertuples()]


CROP = 128  # side of the SR crops kept for the live logs (TensorBoard)


class Validator:
    """PSNR/NIQE of a generator on a fixed validation set.

    ``crops``: after each call, ``self.crops`` holds the centre ``CROP`` x ``CROP`` crop of the
    (8-bit) SR output of the first ``crops`` images, ``{image name: 3 x h x w uint8}``.
    """

    def __init__(self, images: list[ValImage], device: torch.device, crops: int = 3):
        from ranksrgan.metrics import create_metric

        self.images = images
        self.device = device
        self.psnr = create_metric("psnr", device)
        self.niqe = create_metric("niqe", device)
        self.n_crops = crops
        self.crops: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def __call__(self, generator: torch.nn.Module) -> list[dict]:
        """One row per image: ``image``, ``psnr``, ``niqe``."""
        was_training = generator.training
        generator.eval()
        rows = []
        self.crops = {}
        for i, v in enumerate(self.images):
            lr = v.lr.to(self.device).float().div_(255)
            sr = generator(lr).float().clamp_(0, 1)
            sr = torch.round(sr * 255) / 255  # what a saved PNG holds
            if i < self.n_crops:
                self.crops[v.name] = centre_crop(sr[0], CROP).mul(255).round().to(torch.uint8)
            hr = v.hr.to(self.device).float().div_(255)
            rows.append(
                {"image": v.name, "psnr": float(self.psnr(sr, hr)[0]), "niqe": self._niqe(v, sr)}
            )
        generator.train(was_training)
        return rows

    def _niqe(self, v: ValImage, sr: torch.Tensor) -> float:
        """NIQE of one output; NaN (logged) where it is undefined, e.g. a flat image."""
        try:
            return float(self.niqe(sr)[0])
        except MetricUndefinedError as exc:
            log.warning("validation image %s: NIQE recorded as NaN (%s)", v.name, exc)
            return float("nan")


def centre_crop(img: torch.Tensor, side: int) -> torch.Tensor:
    """The centre ``side`` x ``side`` crop of a C x H x W tensor (the whole of a smaller one)."""
    h, w = img.shape[-2:]
    y, x = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return img[..., y : y + side, x : x + side].cpu()
