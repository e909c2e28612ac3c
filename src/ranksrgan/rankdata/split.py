"""Train/validation split of the rank index.

``image`` (default): whole source images go to validation, so no image has patches on both
sides (a patch and its overlapping neighbours would otherwise leak between the sets).
``patch``: the authors' ``move_valid.py``, which moves a random fraction of the patch
triplets (positions, with every method's patch at that position) to validation, so one
image's patches can sit on both sides; kept for exact reproduction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ranksrgan.errors import RankSRGANError

SPLITS = ("image", "patch")
TRAIN, VAL = "train", "val"


def n_validation(n: int, fraction: float) -> int:
    """How many of ``n`` units go to validation: ``round(fraction * n)``, at least one when
    ``fraction > 0`` and ``n >= 2``, never all of them.
    """
    if not 0.0 <= fraction < 1.0:
        raise RankSRGANError(f"validation fraction {fraction}: must be in [0, 1)")
    if fraction == 0.0 or n < 2:
        return 0
    return int(min(n - 1, max(1, round(fraction * n))))


def assign_split(
    index: pd.DataFrame, by: str = "image", fraction: float = 0.1, seed: int = 0
) -> pd.Series:
    """``train``/``val`` for every row of ``index`` (columns dataset, image, x, y).

    ``by="image"``: a seeded random ``n_validation`` of the distinct (dataset, image) pairs;
    ``by="patch"``: of the distinct (dataset, image, y, x) positions. Units are sorted before
    drawing, so the result depends only on the index's content and ``seed``.
    """
    if by not in SPLITS:
        raise RankSRGANError(f"split rule {by!r}: must be one of {', '.join(SPLITS)}")
    keys = ["dataset", "image"] + (["y", "x"] if by == "patch" else [])
    units = index[keys].drop_duplicates().sort_values(keys, kind="stable")
    units = units.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(units), size=n_validation(len(units), fraction), replace=False)
    units["_split"] = TRAIN
    units.loc[chosen, "_split"] = VAL
    merged = index[keys].merge(units, on=keys, how="left", validate="many_to_one")
    return pd.Series(merged["_split"].to_numpy(), index=index.index, name="split")
