"""Training patches: decode once into a memory-mapped cache, sample crops by iteration.

Speed: decoding a 2K PNG costs tens of milliseconds, so every HR/LR image of the training
manifests is decoded once into two flat ``uint8`` ``.npy`` files (HR and LR) that every loader
worker memory-maps; the OS page cache keeps them shared across workers.

Determinism and resumability: the patch for slot ``j`` of iteration ``i`` is a pure function
of ``(seed, i, j)`` (image, crop position, flips, rotation), so the "data-loader position" of
a checkpoint is just the iteration, and the same batches come out whatever the worker count.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ranksrgan.errors import RankSRGANError
from ranksrgan.imresize import imresize
from ranksrgan.io import atomic_path, read_image, write_bytes_atomic
from ranksrgan.io.parquet import read_manifest as read_stage_manifest

log = logging.getLogger(__name__)
SCALE = 4


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """The data stage's manifest (image, hr_path, lr_path), sorted by image."""
    return read_stage_manifest(path, ("image", "hr_path", "lr_path"), "data manifest")


def _cache_key(frames: list[pd.DataFrame]) -> str:
    h = hashlib.sha256()
    for df in frames:
        cols = [c for c in ("image", "hr_path", "lr_path", "hr_sha256", "lr_sha256") if c in df]
        h.update(df[cols].to_csv(index=False).encode())
    return h.hexdigest()[:16]


class PatchCache:
    """Decoded HR and LR images of the training sets in two memory-mapped arrays."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        meta = json.loads((self.folder / "index.json").read_text())
        self.images: list[str] = meta["images"]
        self.hr_shapes = [tuple(s) for s in meta["hr_shapes"]]
        self.lr_shapes = [tuple(s) for s in meta["lr_shapes"]]
        self.hr_offsets = np.asarray(meta["hr_offsets"], dtype=np.int64)
        self.lr_offsets = np.asarray(meta["lr_offsets"], dtype=np.int64)
        self._hr: np.ndarray | None = None
        self._lr: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.images)

    def __getstate__(self):  # workers re-open the memory maps instead of pickling them
        state = self.__dict__.copy()
        state["_hr"] = state["_lr"] = None
        return state

    def _maps(self) -> tuple[np.ndarray, np.ndarray]:
        if self._hr is None:
            self._hr = np.load(self.folder / "hr.npy", mmap_mode="r")
            self._lr = np.load(self.folder / "lr.npy", mmap_mode="r")
        return self._hr, self._lr

    def hr(self, i: int) -> np.ndarray:
        """HR image ``i`` (read-only view, H x W x 3 uint8)."""
        hr, _ = self._maps()
        h, w = self.hr_shapes[i]
        return hr[self.hr_offsets[i] : self.hr_offsets[i] + h * w * 3].reshape(h, w, 3)

    def lr(self, i: int) -> np.ndarray:
        """LR image ``i`` (read-only view)."""
        _, lr = self._maps()
        h, w = self.lr_shapes[i]
        return lr[self.lr_offsets[i] : self.lr_offsets[i] + h * w * 3].reshape(h, w, 3)

    @classmethod
    def build(cls, manifests: list[str | os.PathLike], cache_root: str | os.PathLike) -> PatchCache:
        """Decode the manifests' images once into ``cache_root/<key>/`` (reused when present)."""
        frames = [read_manifest(m) for m in manifests]
        folder = Path(cache_root) / f"patches-{_cache_key(frames)}"
        if (folder / "index.json").is_file():
            return cls(folder)
        folder.mkdir(parents=True, exist_ok=True)
        rows = [r for df in frames for r in df.itertuples(index=False)]
        hr_shapes, lr_shapes = [], []
        for r in rows:  # first pass: shapes only (cheap header reads)
            from PIL import Image

            with Image.open(r.hr_path) as a, Image.open(r.lr_path) as b:
                hr_shapes.append((a.height, a.width))
                lr_shapes.append((b.height, b.width))
            if (a.height, a.width) != (b.height * SCALE, b.width * SCALE):
                raise RankSRGANError(f"{r.lr_path}: LR size is not HR size / {SCALE}")
        hr_off = np.concatenate([[0], np.cumsum([h * w * 3 for h, w in hr_shapes])])
        lr_off = np.concatenate([[0], np.cumsum([h * w * 3 for h, w in lr_shapes])])
        for kind, paths, off in (
            ("hr", [r.hr_path for r in rows], hr_off),
            ("lr", [r.lr_path for r in rows], lr_off),
        ):
            with atomic_path(folder / f"{kind}.npy", suffix=".npy") as tmp:
                arr = np.lib.format.open_memmap(
                    tmp, mode="w+", dtype=np.uint8, shape=(int(off[-1]),)
                )
                for i, p in enumerate(paths):
                    arr[off[i] : off[i + 1]] = read_image(p).reshape(-1)
                arr.flush()
                del arr
        meta = {
            "images": [str(r.image) for r in rows],
            "hr_shapes": hr_shapes,
            "lr_shapes": lr_shapes,
            "hr_offsets": hr_off[:-1].tolist(),
            "lr_offsets": lr_off[:-1].tolist(),
        }
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
    ):
        if lr_source not in ("manifest", "bicubic"):
            raise RankSRGANError(
                f"train data: lr_source must be manifest or bicubic, got {lr_source}"
            )
        self.cache, self.hr_patch, self.seed = cache, hr_patch, seed
        self.flip, self.rotate, self.lr_source = flip, rotate, lr_source
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

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        hr, lr = self.sample(*key)
        to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a).transpose(2, 0, 1).copy())  # noqa: E731
        return to_t(lr), to_t(hr)


class IterationBatches(Sampler):
    """Batches of ``(iteration, slot)`` keys for iterations ``start .. stop - 1``."""

    def __init__(self, start: int, stop: int, batch_size: int):
        self.start, self.stop, self.batch_size = start, stop, batch_size

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for it in range(self.start, self.stop):
            yield [(it, j) for j in range(self.batch_size)]

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def make_loader(
    dataset: PatchDataset, start: int, stop: int, batch_size: int, workers: int, pin_memory: bool
) -> DataLoader:
    """A loader yielding uint8 ``(lr, hr)`` batches for iterations ``start .. stop - 1``.

    Batches stay uint8 until they are on the device (4x less host-device traffic).
    """
    return DataLoader(
        dataset,
        batch_sampler=IterationBatches(start, stop, batch_size),
        num_workers=workers,
        pin_memory=pin_memory,
        prefetch_factor=4 if workers else None,
        persistent_workers=False,
    )
