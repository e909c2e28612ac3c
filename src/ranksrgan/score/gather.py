"""Join a dataset x method's score shards into one Parquet file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ranksrgan.errors import RankSRGANError
from ranksrgan.io import write_parquet_atomic
from ranksrgan.io.parquet import read_shards


def gather(shards: Sequence[str | Path], out: str | Path) -> pd.DataFrame:
    """Concatenate shard files (in the given order) and write ``out`` atomically."""
    df = read_shards(shards, out, "score shard")
    dup = df.duplicated(["image", "metric"])
    if dup.any():
        r = df[dup].iloc[0]
        raise RankSRGANError(
            f"{out}: image {r['image']} metric {r['metric']} appears in two shards"
        )
    write_parquet_atomic(df, out)
    return df
