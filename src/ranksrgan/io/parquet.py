"""Parquet helpers shared by the stages' gather steps."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ranksrgan.errors import RankSRGANError


def read_shards(shards: Sequence[str | os.PathLike], out: str | os.PathLike, what: str):
    """Concatenate shard Parquet files in the given order.

    Raises a one-line error naming a missing shard (``what`` says which kind) or ``out`` when
    no shard is given.
    """
    frames = []
    for s in shards:
        p = Path(s)
        if not p.is_file():
            raise RankSRGANError(f"{p}: {what} not found")
        frames.append(pd.read_parquet(p))
    if not frames:
        raise RankSRGANError(f"{out}: no {what}s to gather")
    return pd.concat(frames, ignore_index=True)


def read_manifest(
    path: str | os.PathLike, columns: Sequence[str], what: str = "manifest"
) -> pd.DataFrame:
    """A stage manifest sorted by ``image``, with one-line errors for a missing or unreadable
    file or a missing column (``what`` names the kind of manifest in the message).
    """
    p = Path(path)
    if not p.is_file():
        raise RankSRGANError(f"{p}: {what} not found")
    try:
        df = pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise RankSRGANError(f"{p}: unreadable {what} ({exc})") from None
    for c in columns:
        if c not in df.columns:
            raise RankSRGANError(f"{p}: {what} lacks column '{c}'")
    return df.sort_values("image", kind="stable").reset_index(drop=True)
