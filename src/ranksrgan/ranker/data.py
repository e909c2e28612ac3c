"""Pairs of patches for the Ranker, cropped on the fly from decoded SR images.

Sample ``(iteration, slot)``: a train position drawn uniformly, one of the pairs of its
methods drawn uniformly (3 methods -> 3 pairs, the authors' sampling), in random order.
Without augmentation (the authors' code) the patches are the index's full ``size`` x ``size``
patches (a centred ``patch`` x ``patch`` crop when ``patch < size``); with augmentation a
random ``patch`` crop inside the patch and random flips / transpose, the same for both
patches of the pair. Every draw is a pure function of ``(seed, iteration, slot)``.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import torch
from torch.utils.data import Dataset

from ranksrgan.errors import RankSRGANError
from ranksrgan.fit.data import ImageCache
from ranksrgan.ranker.index import RankIndex


def check_patches(index: RankIndex, cache: ImageCache) -> None:
    """Every patch lies inside its image (one line naming image, method and file otherwise)."""
    r = index.rows
    h = np.array([cache.shapes[f][0] for f in r["file"]])
    w = np.array([cache.shapes[f][1] for f in r["file"]])
    bad = (r["x"] < 0) | (r["y"] < 0) | (r["y"] + r["size"] > h) | (r["x"] + r["size"] > w)
    if bad.any():
        row = r[bad].iloc[0]
        raise RankSRGANError(
            f"{row['path']}: patch at x={row['x']} y={row['y']} size={row['size']} of image "
            f"'{row['image']}' method '{row['method']}' lies outside the image"
        )


def crop(img: np.ndarray, y: int, x: int, side: int) -> np.ndarray:
    """``side`` x ``side`` view of ``img`` at top-left ``(y, x)``."""
    return img[y : y + side, x : x + side]


def to_chw(a: np.ndarray) -> torch.Tensor:
    """H x W x 3 uint8 -> 3 x H x W uint8 tensor (a copy)."""
    return torch.from_numpy(np.ascontiguousarray(a).transpose(2, 0, 1).copy())


class PairDataset(Dataset):
    """``dataset[(iteration, slot)] -> (patch_a, patch_b, label_a, label_b)``."""

    def __init__(
        self,
        index: RankIndex,
        cache: ImageCache,
        patch: int,
        seed: int,
        augment: bool = False,
    ):
        self.rows = index.rows
        self.cache, self.seed, self.augment = cache, seed, augment
        self.positions = index.positions("train")
        if not self.positions:
            raise RankSRGANError(f"{index.path}: no train position has two or more methods to rank")
        self.file = self.rows["file"].to_numpy()
        self.x, self.y = self.rows["x"].to_numpy(), self.rows["y"].to_numpy()
        self.size = self.rows["size"].to_numpy()
        self.label = self.rows["label"].to_numpy(dtype=np.float32)
        smallest = int(self.size.min())
        if patch > smallest:
            raise RankSRGANError(
                f"{index.path}: ranker patch {patch} is larger than the index's patches "
                f"({smallest})"
            )
        self.patch = patch
        self._pairs = {n: list(combinations(range(n), 2)) for n in {len(p) for p in self.positions}}

    def __len__(self) -> int:  # sampled by key, never iterated by index
        return len(self.positions)

    def sample(self, iteration: int, slot: int) -> tuple[np.ndarray, np.ndarray, float, float]:
        """The pair of one batch slot of one iteration (uint8 H x W x 3 views, labels)."""
        rng = np.random.default_rng([self.seed, iteration, slot])
        rows = self.positions[int(rng.integers(len(self.positions)))]
        pairs = self._pairs[len(rows)]
        i, j = pairs[int(rng.integers(len(pairs)))]
        a, b = int(rows[i]), int(rows[j])
        if rng.random() < 0.5:  # random side: each forward batch mixes levels, so train-mode
            a, b = b, a  # BatchNorm statistics do not differ systematically between the sides
        size, p = int(self.size[a]), self.patch
        if self.augment:
            oy, ox = (int(v) for v in rng.integers(size - p + 1, size=2))
            flips = rng.random(3) < 0.5
        else:
            oy = ox = (size - p) // 2
            flips = np.zeros(3, dtype=bool)
        out = []
        for r in (a, b):
            img = self.cache[int(self.file[r])]
            c = crop(img, int(self.y[r]) + oy, int(self.x[r]) + ox, p)
            if flips[0]:
                c = c[:, ::-1]
            if flips[1]:
                c = c[::-1]
            if flips[2]:
                c = c.transpose(1, 0, 2)
            out.append(c)
        return out[0], out[1], float(self.label[a]), float(self.label[b])

    def __getitem__(self, key: tuple[int, int]):
        pa, pb, la, lb = self.sample(*key)
        return to_chw(pa), to_chw(pb), torch.tensor(la), torch.tensor(lb)
