"""The rank index as the Ranker reads it (contract written by the rankdata stage).

One row per image x position x method: ``image``, ``dataset`` (str), ``x``, ``y``, ``size``
(int: 0-based top-left pixel and side of the square patch), ``method`` (str), ``level`` (int,
0 = worst perceptual level), ``path`` (the full image the patch is cropped from, relative to
the index file's folder; absolute paths are taken as they are), ``score`` (float, the metric),
``label`` (float, oriented so that lower = better), ``metric`` (str), ``split`` (train/val).
Optional: ``stand_in`` (the stand-in note of the row's inputs, ``ranksrgan.io.contracts``),
``sha256`` (of ``path``, written by the rankdata stage): every image is checked against it
once before training or evaluation.
A relative ``path`` must stay inside the results folder ``R`` of
``R/rankdata/{name}/index.parquet`` (one line naming the index and the row otherwise).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.contracts import RANK_INDEX_COLUMNS, read_table, stand_in_reasons
from ranksrgan.io.names import contained_path, rank_index_root
from ranksrgan.io.verify import verify_sha256

log = logging.getLogger(__name__)

COLUMNS = RANK_INDEX_COLUMNS
POSITION = ("dataset", "image", "y", "x", "size")


@dataclass
class RankIndex:
    """The index rows (``path`` resolved, ``file`` = row's image number in ``files``)."""

    rows: pd.DataFrame
    files: list[str]
    path: Path

    def split(self, name: str) -> pd.DataFrame:
        """Rows of one split (``train`` or ``val``)."""
        return self.rows[self.rows["split"] == name]

    def positions(self, split: str) -> list[np.ndarray]:
        """Row numbers of each position of ``split`` with >= 2 methods, sorted by level."""
        df = self.split(split)
        out = []
        for _, g in df.groupby(list(POSITION), sort=True):
            if len(g) >= 2:
                out.append(g.sort_values("level", kind="stable").index.to_numpy())
        return out

    @property
    def metric(self) -> str:
        """The label metric (one per index)."""
        return ", ".join(sorted(self.rows["metric"].astype(str).unique()))

    def stand_in_labels(self) -> list[str]:
        """The stand-in reasons of the index's rows (e.g. SR images of tiny demo networks)."""
        return stand_in_reasons(self.rows, self.path)


def read_rank_index(path: str | os.PathLike) -> RankIndex:
    """Read and check the rank index; one-line errors name the file and the problem."""
    p = Path(path)
    df = read_table(p, COLUMNS, "rank index")
    bad_split = sorted(set(df["split"].astype(str)) - {"train", "val"})
    if bad_split:
        raise RankSRGANError(f"{p}: rank index split must be train or val, found '{bad_split[0]}'")
    df = df.reset_index(drop=True)
    finite = np.isfinite(df["label"].to_numpy(dtype=np.float64))
    if not finite.all():
        log.warning("%s: %d rows without a finite label left out", p, int((~finite).sum()))
        df = df[finite].reset_index(drop=True)
    if not (df["split"] == "train").any():
        raise RankSRGANError(f"{p}: rank index has no train rows")
    base, root = p.parent, rank_index_root(p)
    joined: dict[str, str] = {}
    for i, q in enumerate(df["path"].astype(str)):
        if q not in joined:  # once per image: the index names it once per position and level
            where = f"{p} (rank index)"
            joined[q] = contained_path(
                root, q, where, f"{i} (image {df['image'].iloc[i]!r})", base=base
            )
    resolved = [joined[q] for q in df["path"].astype(str)]
    files = sorted(set(resolved))
    number = {f: i for i, f in enumerate(files)}
    df = df.assign(
        path=resolved,
        file=[number[f] for f in resolved],
        label=df["label"].astype(np.float64),
    )
    for c in ("x", "y", "size", "level"):
        df[c] = df[c].astype(np.int64)
    for f in files:
        if not Path(f).is_file():
            raise RankSRGANError(f"{f}: SR image of the rank index {p} not found")
    if "sha256" in df.columns:
        for r in df.drop_duplicates(["path", "sha256"]).itertuples():
            where = f"{p} (rank index), image {r.image} method {r.method}"
            verify_sha256(r.path, r.sha256, where, "the rankdata stage")
    return RankIndex(df, files, p)
