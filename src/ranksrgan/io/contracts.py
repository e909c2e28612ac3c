"""The file contracts between stages, stated once: table columns, the HR pseudo-method, and
the one Parquet reader every stage uses.

Each ``*_COLUMNS`` tuple is the set of columns a reader of that table may rely on, in the
order the writer writes them (docs/architecture.md "Files between stages" points here instead
of repeating them). Writers import them; readers pass them to :func:`read_table`, whose
errors are one line naming the file and what kind of table it should have been.
Pandas is imported only by the reader: the workflow and the config check import the
constants at DAG load.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ranksrgan.errors import RankSRGANError

if TYPE_CHECKING:
    import pandas as pd

# The data stage's HR image of a dataset, used where a method name goes: a score "method"
# (HR scored against itself for NIQE/Ma/PI) and a rank-dataset level (RankSRGAN-HR).
HR = "HR"

# R/data/{dataset}/manifest.parquet (paths relative to the manifest's folder)
DATA_MANIFEST_COLUMNS = ("image", "hr_path", "lr_path", "height", "width", "hr_sha256",
                         "lr_sha256")

# R/sr/{method}/{dataset}/manifest.parquet and its shards
SR_MANIFEST_COLUMNS = ("image", "method", "path", "height", "width", "sr_sha256", "lr_sha256",
                       "weights", "weights_sha256", "runtime_s", "device", "precision",
                       "stand_in")

# R/scores/{dataset}/{method}.parquet (long format: one row per image x metric) and shards
SCORE_COLUMNS = ("dataset", "method", "image", "metric", "value", "height", "width", "colour",
                 "shave", "protocol", "params_hash", "stand_in", "stand_in_note", "error")

# R/rankdata/{name}/index.parquet: the columns every reader (the Ranker) relies on ...
RANK_INDEX_COLUMNS = ("image", "dataset", "x", "y", "size", "method", "level", "path", "score",
                      "label", "metric", "split")
# ... and the selection values and hashes the writer adds after them
RANK_INDEX_EXTRA_COLUMNS = ("sharpness", "niqe_gap", "sha256", "hr_sha256", "stand_in")
# A rank-data shard's patch rows: the index's columns before the split is drawn at gather
RANK_PATCH_COLUMNS = tuple(
    c for c in (*RANK_INDEX_COLUMNS, *RANK_INDEX_EXTRA_COLUMNS) if c != "split"
)


def read_table(
    path: str | os.PathLike, columns: Sequence[str], what: str
) -> pd.DataFrame:
    """Read a stage's Parquet table and check it has ``columns``; one line naming the file and
    ``what`` (e.g. "rank index") when it is missing, unreadable or lacks a column."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise RankSRGANError(f"{p}: {what} not found")
    try:
        df = pd.read_parquet(p)
    except Exception as exc:  # noqa: BLE001  (pyarrow raises several types for a damaged file)
        msg = " ".join(str(exc).split())[:200]
        raise RankSRGANError(f"{p}: unreadable {what} ({type(exc).__name__}: {msg})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise RankSRGANError(f"{p}: {what} lacks column '{missing[0]}'")
    return df
