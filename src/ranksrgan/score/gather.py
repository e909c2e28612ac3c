"""Join a dataset x method's score shards into one Parquet file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ranksrgan.errors import RankSRGANError
from ranksrgan.io import write_parquet_atomic


def gather(shards: Sequence[str | Path], out: str | Path) -> pd.DataFrame:
    """Concatenate shard files (in the given order) and write ``out`` atomically."""
    frames = []
    for s in shards:
        p = Path(s)
        if not p.is_file():
            raise RankSRGANError(f"{p}: score shard not found")
        frames.append(pd.read_parquet(p))
    if not frames:
        raise RankSRGANError(f"{out}: no shards to gather")
    df = pd.concat(frames, ignore_index=True)
    dup = df.duplicated(["image", "metric"])
    if dup.any():
        r = df[dup].iloc[0]
        raise RankSRGANError(
            f"{out}: image {r['image']} metric {r['metric']} appears in two shards"
        )
    write_parquet_atomic(df, out)
    return df
