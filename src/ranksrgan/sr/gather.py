"""Concatenate a method's shard manifests of one dataset into one manifest."""

from __future__ import annotations

import os

import pandas as pd

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.parquet import write_manifest
from ranksrgan.io.shards import read_shards


def gather_shards(
    shards: list[str | os.PathLike], out: str | os.PathLike, expected_images: int | None = None
) -> pd.DataFrame:
    """Read shard manifests (in shard order), check they fit together, write ``out`` atomically.

    PNG paths are stored relative to ``out``'s folder; the returned table's are usable from
    the working directory.
    """
    df = read_shards(shards, out, "shard manifest", unique=("image",))
    if df["method"].nunique() != 1:
        raise RankSRGANError(f"{out}: shards mix methods {sorted(df['method'].unique())}")
    if expected_images is not None and len(df) != expected_images:
        raise RankSRGANError(
            f"{out}: {len(df)} images in the shards, config expects {expected_images}"
        )
    df = df.sort_values("image", kind="stable").reset_index(drop=True)
    write_manifest(df, out)
    return df
