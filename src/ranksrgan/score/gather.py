"""Join a dataset x method's score shards into one Parquet file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ranksrgan.io import write_parquet_atomic
from ranksrgan.io.shards import read_shards


def gather(shards: Sequence[str | Path], out: str | Path) -> pd.DataFrame:
    """Concatenate shard files (in the given order) and write ``out`` atomically.

    One-line errors name a missing or corrupt shard file, or an image x metric in two shards.
    """
    df = read_shards(shards, out, "score shard", unique=("image", "metric"))
    write_parquet_atomic(df, out)
    return df
