"""Concatenate a method's shard manifests of one dataset into one manifest."""

from __future__ import annotations

import os

import pandas as pd

from ranksrgan.errors import RankSRGANError
from ranksrgan.io import write_parquet_atomic
from ranksrgan.io.parquet import read_shards


def gather_shards(
    shards: list[str | os.PathLike], out: str | os.PathLike, expected_images: int | None = None
) -> pd.DataFrame:
    """Read shard manifests (in shard order), check they fit together, write ``out`` atomically."""
    df = read_shards(shards, out, "shard manifest")
    dup = df["image"][df["image"].duplicated()]
    if len(dup):
        raise RankSRGANError(f"{out}: image '{dup.iloc[0]}' appears in two shards")
    if df["method"].nunique() != 1:
        raise RankSRGANError(f"{out}: shards mix methods {sorted(df['method'].unique())}")
    if expected_images is not None and len(df) != expected_images:
        raise RankSRGANError(
            f"{out}: {len(df)} images in the shards, config expects {expected_images}"
        )
    df = df.sort_values("image", kind="stable").reset_index(drop=True)
    write_parquet_atomic(df, out)
    return df
