"""Gather: shard files -> ``index.parquet`` (the Ranker's contract), ``images.parquet``, stats.

``index.parquet``: one row per image x position x method (``INDEX_COLUMNS``): ``x``, ``y``
0-based top-left pixel, ``level`` 0 = lowest method of the level order, ``path`` the full
image the patch is cropped from, relative to the index file's folder, ``score`` the metric
value, ``label`` the score oriented so that lower is better, ``split`` train/val.
Positions where some level's score is not finite (a metric undefined on a degenerate patch,
e.g. NIQE on a flat patch) are left out of the index, every level's row of the position, and
counted in the stats. A rank dataset with no position left is an error (one line naming it and
why), not an empty index.

``images.parquet``: one row per source image: size, status (``ok`` or skipped as smaller
than one patch), the per-image seed of the cap, positions before/after each rule, split.

``stats.json``: counts per label order (per pair of levels: how often the higher level has
the better label, and the full order of each position's labels), score histograms per
method, images skipped, positions before/after each selection rule, positions dropped because
a metric was undefined (``positions_dropped_undefined``: ``niqe_gap`` in the selection,
``label`` at the gather; the latter also as ``positions_dropped_non_finite_score``), split
sizes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ranksrgan.errors import RankSRGANError
from ranksrgan.io import write_bytes_atomic, write_parquet_atomic
from ranksrgan.io.contracts import RANK_INDEX_COLUMNS, RANK_INDEX_EXTRA_COLUMNS
from ranksrgan.io.parquet import write_manifest
from ranksrgan.io.shards import read_shards
from ranksrgan.rankdata.shard import (
    IMAGE_COLUMNS,
    PATCH_COLUMNS,
    PATCH_DTYPES,
    SMALL,
    images_path,
)
from ranksrgan.rankdata.split import assign_split

INDEX_COLUMNS = [*RANK_INDEX_COLUMNS, *RANK_INDEX_EXTRA_COLUMNS]
POSITION = ["dataset", "image", "y", "x"]
HIST_BINS = 30


def read_shard_tables(shards: Sequence[str | os.PathLike]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Patch rows (paths resolved against each shard's folder) and per-image rows of all shards."""
    patches = read_shards(shards, "rank index", "rank-data shard")
    images = read_shards(
        [images_path(s) for s in shards],
        "rank index",
        "rank-data image table",
        unique=("dataset", "image"),
    )
    if "n_gap_undefined" not in images.columns:
        # shards written before the column existed: those runs stopped on any undefined patch
        images["n_gap_undefined"] = 0
    return patches[PATCH_COLUMNS].astype(PATCH_DTYPES), images[IMAGE_COLUMNS]


def label_order_stats(index: pd.DataFrame, methods: Sequence[str]) -> dict:
    """Per pair of levels (lower, higher): positions where the higher level's label is better
    (lower), worse, or equal; and how often each full order of the labels occurs.
    """
    wide = index.pivot_table(index=POSITION, columns="method", values="label", aggfunc="first")
    wide = wide[list(methods)]
    pairs = []
    for i, lo in enumerate(methods):
        for hi in methods[i + 1 :]:
            d = wide[hi] - wide[lo]
            agree, disagree, tie = int((d < 0).sum()), int((d > 0).sum()), int((d == 0).sum())
            n = agree + disagree + tie
            pairs.append(
                {
                    "lower_level": lo,
                    "higher_level": hi,
                    "agree": agree,
                    "disagree": disagree,
                    "tie": tie,
                    "agree_fraction": agree / n if n else None,
                }
            )
    orders: dict[str, int] = {}
    values = wide.to_numpy()
    for row in values:
        o = np.argsort(row, kind="stable")
        text = methods[o[0]]
        for a, b in zip(o[:-1], o[1:], strict=True):
            text += (" = " if row[a] == row[b] else " < ") + methods[b]
        orders[text] = orders.get(text, 0) + 1
    return {
        "pairs": pairs,
        "orders_best_first": dict(sorted(orders.items(), key=lambda kv: -kv[1])),
    }


def score_histograms(index: pd.DataFrame, methods: Sequence[str], bins: int = HIST_BINS) -> dict:
    """Histogram of ``score`` per method over shared bin edges."""
    s = index["score"].to_numpy()
    if len(s) == 0:
        return {"edges": [], "counts": {m: [] for m in methods}}
    edges = np.histogram_bin_edges(s, bins=bins)
    counts = {
        m: np.histogram(index.loc[index["method"] == m, "score"], bins=edges)[0].tolist()
        for m in methods
    }
    return {"edges": edges.tolist(), "counts": counts}


def _positions_stats(images: pd.DataFrame) -> dict:
    cols = {
        "grid": "n_grid",
        "after_sharpness": "n_sharpness",
        "after_niqe_gap": "n_gap",
        "after_cap": "n_kept",
    }
    total = {k: int(images[c].sum()) for k, c in cols.items()}
    per = {
        d: {k: int(g[c].sum()) for k, c in cols.items()}
        for d, g in images.groupby("dataset", sort=True)
    }
    return {"total": total, "per_dataset": per}


def _empty_reason(out: Path, images: pd.DataFrame, n_undefined: int) -> str:
    """Why no position is left, for the one-line error of an empty rank dataset."""
    name = f"rank dataset '{out.parent.name}'"
    n = len(images)
    if n == 0:
        return f"{name} is empty: the shards hold no image"
    small = int((images["status"] == SMALL).sum())
    if small == n:
        return (
            f"{name} is empty: all {n} images are smaller than one patch (lower size or use "
            "larger images)"
        )
    c = {k: int(images[k].sum()) for k in ("n_grid", "n_sharpness", "n_gap", "n_kept")}
    return (
        f"{name} is empty: no position left of {n} images ({small} smaller than one patch; "
        f"positions: {c['n_grid']} on the grid, {c['n_sharpness']} after sharpness, "
        f"{c['n_gap']} after NIQE distance ({int(images['n_gap_undefined'].sum())} undefined), "
        f"{c['n_kept']} after the cap, {n_undefined} with an undefined label)"
    )


def gather(
    shards: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    stats_out: str | os.PathLike,
    images_out: str | os.PathLike,
    split_by: str = "image",
    val_fraction: float = 0.1,
    seed: int = 0,
    groups: Sequence[Sequence[str]] = (),
) -> tuple[pd.DataFrame, dict]:
    """Join the shards, assign the split, write the index, the image table and the stats.

    ``groups``: image names that always share a split (:mod:`ranksrgan.rankdata.split`),
    checked against every source image of the shards' image tables.
    """
    out = Path(out)
    patches, images = read_shard_tables(shards)
    methods = (
        patches.sort_values("level").drop_duplicates("level")["method"].tolist()
        if len(patches)
        else []
    )
    metrics = sorted(patches["metric"].unique())
    if len(metrics) > 1:
        raise RankSRGANError(f"{out}: shards labelled with different metrics {metrics}")
    dup = patches.duplicated(POSITION + ["level"])
    if dup.any():
        r = patches[dup].iloc[0]
        raise RankSRGANError(
            f"{out}: image {r['image']} position ({r['x']}, {r['y']}) level {r['level']} "
            "appears twice"
        )
    finite = np.isfinite(patches["score"].to_numpy())
    bad_pos = patches.loc[~finite, POSITION].drop_duplicates()
    if len(bad_pos):
        mark = patches[POSITION].merge(bad_pos.assign(_bad=True), on=POSITION, how="left")
        patches = patches[mark["_bad"].isna().to_numpy()]
    patches = patches.sort_values(POSITION + ["level"], kind="stable").reset_index(drop=True)
    if patches.empty:
        raise RankSRGANError(f"{out}: {_empty_reason(out, images, len(bad_pos))}")
    patches["split"] = assign_split(
        patches, split_by, val_fraction, seed, groups, known=images["image"].astype(str)
    )
    index = patches[INDEX_COLUMNS]

    split_of_image = patches.drop_duplicates(["dataset", "image"]).set_index(["dataset", "image"])[
        "split"
    ]
    images = images.sort_values(["dataset", "image"], kind="stable").reset_index(drop=True)
    keys = list(zip(images["dataset"], images["image"], strict=True))
    images["split"] = [(split_of_image.get(k, "") if split_by == "image" else "") for k in keys]
    small = images[images["status"] == SMALL]
    n_pos = patches.drop_duplicates(POSITION)
    stats = {
        "metric": metrics[0] if metrics else None,
        "levels": methods,
        "rows": int(len(index)),
        "positions": int(len(n_pos)),
        "images": {
            "total": int(len(images)),
            "with_patches": int(patches.drop_duplicates(["dataset", "image"]).shape[0]),
            "skipped_smaller_than_patch": int(len(small)),
            "skipped": [f"{d}/{i}" for d, i in zip(small["dataset"], small["image"], strict=True)],
        },
        "selection": _positions_stats(images),
        "positions_dropped_non_finite_score": int(len(bad_pos)),
        "positions_dropped_undefined": {
            "niqe_gap": int(images["n_gap_undefined"].sum()),
            "label": int(len(bad_pos)),
        },
        "split": {
            "by": split_by,
            "val_fraction": val_fraction,
            "seed": seed,
            "groups": [list(map(str, g)) for g in groups],
            "images": {
                s: int(n)
                for s, n in n_pos.drop_duplicates(["dataset", "image", "split"])["split"]
                .value_counts()
                .sort_index()
                .items()
            },
            "positions": {s: int(n) for s, n in n_pos["split"].value_counts().sort_index().items()},
        },
        "label_order": label_order_stats(index, methods) if len(index) else {},
        "score_histograms": score_histograms(index, methods),
    }
    write_parquet_atomic(images, images_out)
    write_bytes_atomic(stats_out, (json.dumps(stats, indent=1) + "\n").encode())
    write_manifest(index, out)  # paths relative to the index's folder
    return index, stats
