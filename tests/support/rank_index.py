"""A tiny real rank index for the Ranker tests (the rankdata stage's contract).

Three "methods" per photo made by blurring a scikit-image photo (level 0 = most blurred,
level 2 = the photo itself), written as PNGs; positions on a grid; the label is a real
sharpness measure oriented as the contract says (lower = better): minus the log of the mean
gradient magnitude of the patch's luma.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import skimage.data
from scipy.ndimage import gaussian_filter

from ranksrgan.io import write_png

METHODS = {"blur2": (0, 2.0), "blur1": (1, 0.8), "sharp": (2, 0.0)}


def _label(patch: np.ndarray) -> float:
    y = patch.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    gy, gx = np.gradient(y)
    return float(-np.log(np.mean(np.hypot(gx, gy)) + 1e-6))


def make_rank_index(
    root: Path,
    photos=(("astronaut", "train"), ("coffee", "train"), ("chelsea", "val")),
    side: int = 96,
    size: int = 48,
    stride: int = 24,
) -> Path:
    """Write SR images and ``rankdata/idx/index.parquet`` under ``root``; return the index."""
    index_dir = root / "rankdata" / "idx"
    rows = []
    for stem, split in photos:
        img = getattr(skimage.data, stem)()[:side, :side, :3]
        for method, (level, sigma) in METHODS.items():
            out = (
                img
                if sigma == 0
                else np.stack(
                    [gaussian_filter(img[..., c].astype(np.float64), sigma) for c in range(3)], -1
                )
            )
            out = np.clip(np.round(out), 0, 255).astype(np.uint8)
            path = root / "sr" / method / f"{stem}.png"
            write_png(path, out)
            for y in range(0, side - size + 1, stride):
                for x in range(0, side - size + 1, stride):
                    score = _label(out[y : y + size, x : x + size])
                    rows.append(
                        {
                            "image": stem,
                            "dataset": "toy",
                            "x": x,
                            "y": y,
                            "size": size,
                            "method": method,
                            "level": level,
                            "path": str(Path("..", "..", "sr", method, f"{stem}.png")),
                            "score": score,
                            "label": score,
                            "metric": "neg_log_gradient",
                            "split": split,
                            "stand_in": "toy labels",
                        }
                    )
    index_dir.mkdir(parents=True, exist_ok=True)
    out = index_dir / "index.parquet"
    pd.DataFrame(rows).to_parquet(out, index=False)
    return out
