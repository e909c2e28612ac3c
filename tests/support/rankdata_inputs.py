"""The rankdata stage's inputs: a data manifest of real photos and one SR manifest per fake
"method" (blur < mild < sharp levels of each photo), and the `rankdata shard` arguments that
read them (the rankdata stage's tests, the Ranker's contract test, the recorded-hash and
table-value checks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from ranksrgan.io import sha256_file, write_png

METHODS = ("blur", "mild", "sharp")
SIZE, STRIDE = 128, 64  # rank-dataset patch size and grid stride


def levels(img: np.ndarray) -> dict[str, np.ndarray]:
    """The three fake methods' images of one photo: blurred < mildly blurred < sharpened."""
    f = img.astype(np.float64)
    blur = ndimage.gaussian_filter(f, (2.0, 2.0, 0))
    mild = ndimage.gaussian_filter(f, (0.8, 0.8, 0))
    sharp = f + 1.0 * (f - ndimage.gaussian_filter(f, (1.0, 1.0, 0)))
    return {
        m: np.clip(a, 0, 255).round().astype(np.uint8)
        for m, a in zip(METHODS, (blur, mild, sharp), strict=True)
    }


def write_level_dataset(
    root: Path, photos: dict[str, np.ndarray], methods: tuple[str, ...] = METHODS
) -> tuple[Path, dict[str, Path]]:
    """A data manifest and one sr manifest per fake method of ``methods`` (absolute paths)."""
    data_rows, sr_rows = [], {m: [] for m in methods}
    for name, img in photos.items():
        hr = root / "data" / "HR" / f"{name}.png"
        write_png(hr, img)
        h, w = img.shape[:2]
        data_rows.append(
            {
                "image": name,
                "hr_path": str(hr),
                "lr_path": str(hr),
                "height": h,
                "width": w,
                "hr_sha256": sha256_file(hr),
                "lr_sha256": sha256_file(hr),
            }
        )
        for m, arr in levels(img).items():
            if m not in methods:
                continue
            p = root / "sr" / m / f"{name}.png"
            write_png(p, arr)
            sr_rows[m].append(
                {
                    "image": name,
                    "method": m,
                    "path": str(p),
                    "height": h,
                    "width": w,
                    "sr_sha256": sha256_file(p),
                    "stand_in": "fake method (test)",
                }
            )
    data = root / "data" / "manifest.parquet"
    pd.DataFrame(data_rows).to_parquet(data)
    srs = {}
    for m, rows in sr_rows.items():
        srs[m] = root / "sr" / m / "manifest.parquet"
        pd.DataFrame(rows).to_parquet(srs[m])
    return data, srs


def rankdata_shard_args(data, srs, out, *extra):
    """`ranksrgan rankdata shard` arguments reading ``write_level_dataset``'s manifests."""
    args = ["rankdata", "shard", "--dataset", "photos", "--data-manifest", str(data)]
    for m in METHODS:
        args += ["--level", f"{m}={srs[m]}"]
    return args + [
        "--size",
        str(SIZE),
        "--stride",
        str(STRIDE),
        "--sharpness-min",
        "5",
        "--sharpness-block",
        "96",
        "--out",
        str(out),
        *extra,
    ]


def rankdata_gather_args(root: Path, shards, *extra: str) -> list[str]:
    """`ranksrgan rankdata gather` arguments: ``shards`` into ``root``'s index, images, stats."""
    args = ["rankdata", "gather", "--out", str(root / "index.parquet")]
    args += ["--images", str(root / "images.parquet"), "--stats", str(root / "stats.json")]
    for s in shards:
        args += ["--shard", str(s)]
    return [*args, *extra]
