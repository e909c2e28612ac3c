"""The rank index's file contract, shared by its writer (rankdata) and its reader (ranker).

``R/rankdata/{name}/index.parquet`` holds one row per image x position x method. These are
the columns every reader may rely on; the writer adds its selection values after them
(``docs/architecture.md``). ``path`` is the image a patch is cropped from, relative to the
index file's folder; ``label`` is ``score`` oriented so that lower = better.
"""

from __future__ import annotations

RANK_INDEX_COLUMNS = (
    "image",
    "dataset",
    "x",
    "y",
    "size",
    "method",
    "level",
    "path",
    "score",
    "label",
    "metric",
    "split",
)
