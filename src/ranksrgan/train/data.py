"""Training patches: decode once into a memory-mapped cache, sample crops by iteration.

Speed: every HR/LR image of the training manifests is decoded once into two toolkit image
caches (:class:`ranksrgan.fit.data.ImageCache`, memory-mapped ``uint8``) that every loader
worker shares.

Determinism and resumability: the patch for slot ``j`` of iteration ``i`` is a pure function
of ``(seed, i, j)`` (image, crop position, flips, rotation), so the "data-loader position" of
a checkpoint is just the iteration, and the same batches come out whatever the worker count.

LR of a patch (``lr_source``): ``manifest`` crops the data stage's LR image, i.e. MATLAB
bicubic of the whole image in double precision rounded once to uint8 (the authors' current
code resizes the whole float image on the fly and keeps it unrounded: the same pixels up to
that rounding, <= 0.5/255); ``bicubic`` is MATLAB bicubic of the uint8 HR crop itself,
rounded to uint8 (differs from a whole-image resize in a 2 LR-pixel band along the crop
border, where the crop's symmetric padding replaces the neighbouring pixels).

``sub_images`` (the authors' first commit): the HR images are cut into ``size`` x ``size``
sub-images every ``step`` pixels (``extract_subimgs_single.py``: a last row/column flush with
the border when more than ``thresh_size`` pixels would be left), each with its own MATLAB
bicubic LR (their precomputed ``_bicLRx4`` sub-images); a patch is a random crop of a random
sub-image, so no patch straddles two sub-images and the LR near a sub-image border is that of
the sub-image. ``lr_source`` is then unused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from ranksrgan.errors import RankSRGANError
from ranksrgan.fit.data import ImageCache
from ranksrgan.imresize import imresize
from ranksrgan.io import write_bytes_atomic
from ranksrgan.io.parquet import read_manifest as read_stage_manifest
from ranksrgan.io.verify import verify_sha256

log = logging.getLogger(__name__)
SCALE = 4


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """The data stage's manifest (image, hr_path, lr_path), sorted by image; its paths must
    stay inside the manifest's folder and its image names be plain file names."""
    return read_stage_manifest(path, ("image", "hr_path", "lr_path"), "data manifest")


def _cache_key(frames: list[pd.DataFrame]) -> str:
    h = hashlib.sha256(b"v2")  # v2: HR and LR in two toolkit ImageCaches
    for df in frames:
        cols = [c for c in ("image", "hr_path", "lr_path", "hr_sha256", "lr_sha256") if c in df]
        h.update(df[cols].to_csv(index=False).encode())
    return h.hexdigest()[:16]


class PatchCache:
    """Decoded HR and LR images of the training sets: two toolkit :class:`ImageCache` s."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        meta = json.loads((self.folder / "index.json").read_text())
        self.images: list[str] = meta["images"]
        self._hr, self._lr = ImageCache(self.folder, "hr"), ImageCache(self.folder, "lr")
        self.hr_shapes, self.lr_shapes = self._hr.shapes, self._lr.shapes

    def __len__(self) -> int:
        return len(self.images)

    def hr(self, i: int) -> np.ndarray:
        """HR image ``i`` (read-only view, H x W x 3 uint8)."""
        return self._hr[i]

    def lr(self, i: int) -> np.ndarray:
        """LR image ``i`` (read-only view)."""
        return self._lr[i]

    @classmethod
    def build(cls, manifests: list[str | os.PathLike], cache_root: str | os.PathLike) -> PatchCache:
        """Decode the manifests' images once into ``cache_root/<key>/`` (reused when present)."""
        frames = [read_manifest(m) for m in manifests]
        folder = Path(cache_root) / f"patches-{_cache_key(frames)}"
        if (folder / "index.json").is_file():
            return cls(folder)
        rows = [r for df in frames for r in df.itertuples(index=False)]
        for m, df in zip(manifests, frames, strict=True):
            # the files must still be the ones the data stage recorded (the cache is keyed
            # on those hashes): once per file, before anything is decoded
            for r in df.itertuples(index=False):
                for col in ("hr", "lr"):
                    verify_sha256(
                        getattr(r, f"{col}_path"), getattr(r, f"{col}_sha256", None),
                        f"data manifest {m}, image {r.image}", "the data stage",
                    )
        for r in rows:  # header reads only: fail before decoding anything
            from PIL import Image

            with Image.open(r.hr_path) as a, Image.open(r.lr_path) as b:
                if (a.height, a.width) != (b.height * SCALE, b.width * SCALE):
                    raise RankSRGANError(f"{r.lr_path}: LR size is not HR size / {SCALE}")
        ImageCache.build([r.hr_path for r in rows], folder, "hr")
        ImageCache.build([r.lr_path for r in rows], folder, "lr")
        meta = {"images": [str(r.image) for r in rows]}
        write_bytes_atomic(folder / "index.json", json.dumps(meta).encode())
        log.info("decoded %d training images into %s", len(rows), folder)
        return cls(folder)


def augment(hr: np.ndarray, lr: np.ndarray, hflip: bool, vflip: bool, rot90: bool):
    """The authors' augmentation: horizontal flip, vertical flip, transpose (rot90 + flip)."""
    if hflip:
        hr, lr = hr[:, ::-1], lr[:, ::-1]
    if vflip:
        hr, lr = hr[::-1], lr[::-1]
    if rot90:
        hr, lr = hr.transpose(1, 0, 2), lr.transpose(1, 0, 2)
    return hr, lr


class PatchDataset(Dataset):
    """``dataset[(iteration, slot)] -> (lr, hr)`` uint8 tensors (3 x h x w)."""

    def __init__(
        self,
        cache: PatchCache,
        hr_patch: int,
        seed: int,
        flip: bool = True,
        rotate: bool = True,
        lr_source: str = "manifest",
        sub_images: tuple[int, int, int] | None = None,
    ):
        if lr_source not in ("manifest", "bicubic"):
            raise RankSRGANError(
                f"train data: lr_source must be manifest or bicubic, got {lr_source}"
            )
        self.cache, self.hr_patch, self.seed = cache, hr_patch, seed
        self.flip, self.rotate, self.lr_source = flip, rotate, lr_source
        self.subs: np.ndarray | None = None
        self.sub_size = 0
        if sub_images is not None:
            self.sub_size = int(sub_images[0])
            self.subs = sub_image_boxes(cache.hr_shapes, *sub_images)
            if not len(self.subs):
                raise RankSRGANError(
                    f"train data: no image holds a {sub_images[0]} px sub-image (sub_images.size)"
                )
            return
        for i, (h, w) in enumerate(cache.hr_shapes):
            if min(h, w) < hr_patch:
                raise RankSRGANError(
                    f"training image '{cache.images[i]}' is {h}x{w}, "
                    f"smaller than hr_patch {hr_patch}"
                )

    def __len__(self) -> int:  # sampled by key, never iterated by index
        return len(self.cache)

    def sample(self, iteration: int, slot: int) -> tuple[np.ndarray, np.ndarray]:
        """The (HR, LR) uint8 patch pair for one batch slot of one iteration."""
        rng = np.random.default_rng([self.seed, iteration, slot])
        if self.subs is not None:
            return self._sample_sub(rng)
        i = int(rng.integers(len(self.cache)))
        lp = self.hr_patch // SCALE
        lh, lw = self.cache.lr_shapes[i]
        y, x = int(rng.integers(lh - lp + 1)), int(rng.integers(lw - lp + 1))
        hr = self.cache.hr(i)[y * SCALE : (y + lp) * SCALE, x * SCALE : (x + lp) * SCALE]
        if self.lr_source == "bicubic":  # MATLAB bicubic of the crop itself, as the authors' code
            lr = imresize(np.ascontiguousarray(hr), 1.0 / SCALE)
        else:
            lr = self.cache.lr(i)[y : y + lp, x : x + lp]
        flips = rng.random(3) < 0.5
        return augment(
            hr,
            lr,
            bool(flips[0] and self.flip),
            bool(flips[1] and self.flip),
            bool(flips[2] and self.rotate),
        )

    def _sample_sub(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A crop of a random sub-image, its LR from the sub-image's own MATLAB bicubic."""
        assert self.subs is not None  # called only with sub-images on
        i, y0, x0 = (int(v) for v in self.subs[int(rng.integers(len(self.subs)))])
        s = self.sub_size
        sub_hr = np.ascontiguousarray(self.cache.hr(i)[y0 : y0 + s, x0 : x0 + s])
        sub_lr = imresize(sub_hr, 1.0 / SCALE)  # 6 ms for 480 px: cheaper than storing them
        lp = self.hr_patch // SCALE
        y, x = int(rng.integers(s // SCALE - lp + 1)), int(rng.integers(s // SCALE - lp + 1))
        hr = sub_hr[y * SCALE : (y + lp) * SCALE, x * SCALE : (x + lp) * SCALE]
        lr = sub_lr[y : y + lp, x : x + lp]
        flips = rng.random(3) < 0.5
        return augment(
            hr,
            lr,
            bool(flips[0] and self.flip),
            bool(flips[1] and self.flip),
            bool(flips[2] and self.rotate),
        )

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        hr, lr = self.sample(*key)
        to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a).transpose(2, 0, 1).copy())  # noqa: E731
        return to_t(lr), to_t(hr)


def sub_image_boxes(
    shapes: list[tuple[int, int]], size: int, step: int, thresh_size: int = 0
) -> np.ndarray:
    """``(image, y, x)`` of every sub-image, as the authors' ``extract_subimgs_single.py``.

    Top-left corners every ``step`` pixels while a whole ``size`` window fits, plus one flush
    with the bottom/right border when more than ``thresh_size`` pixels would be left over.
    """
    def starts(n: int) -> list[int]:
        if n < size:
            return []
        out = list(range(0, n - size + 1, step))
        if n - (out[-1] + size) > thresh_size:
            out.append(n - size)
        return out

    rows = [(i, y, x) for i, (h, w) in enumerate(shapes) for y in starts(h) for x in starts(w)]
    return np.asarray(rows, dtype=np.int64).reshape(-1, 3)
