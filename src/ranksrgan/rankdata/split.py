"""Train/validation split of the rank index.

``image`` (default): whole source images go to validation, so no image has patches on both
sides (a patch and its overlapping neighbours would otherwise leak between the sets).
``patch``: the authors' ``move_valid.py``, which moves a random fraction of the patch
triplets (positions, with every method's patch at that position) to validation, so one
image's patches can sit on both sides; kept for exact reproduction.

Groups (``rankdata.<name>.split.groups``, ``--group``; ``by: image`` only): lists of image
names that always land in the same split, for sources that are near-duplicates of each other
(the two views of a stereo pair, frames of one video). A group is one unit of the draw: it
counts once towards ``val_fraction`` and goes to train or validation whole. A name matches
that image in every source dataset of the rank dataset. Rules, each a one-line error:

- an image in two groups (write them as one group);
- a group name that is no image of any source dataset (a typo would silently leave the
  near-duplicates free to split); an image that is a source but kept no patch is fine, it
  simply has no rows;
- groups with ``by: patch`` (that rule splits every image across the sets by design).

Without groups the draw is exactly the ungrouped one (same units, same order, same seed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

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


def group_of(
    groups: Sequence[Sequence[str]], known: Iterable[str] | None = None
) -> Mapping[str, int]:
    """Image name -> the 0-based number of its group in ``groups``.

    ``known``: every image name of the rank dataset's sources (with or without patches);
    when given, a group name outside it is an error. An image in two groups is an error.
    """
    known_set = None if known is None else set(map(str, known))
    member: dict[str, int] = {}
    for g, names in enumerate(groups):
        for name in map(str, names):
            if name in member and member[name] != g:
                raise RankSRGANError(
                    f"split.groups: image '{name}' is in groups {member[name] + 1} and {g + 1} "
                    "(write them as one group)"
                )
            if known_set is not None and name not in known_set:
                raise RankSRGANError(
                    f"split.groups: group {g + 1} names image '{name}', which is no image of "
                    f"the rank dataset's sources ({len(known_set)} images)"
                )
            member[name] = g
    return member


def assign_split(
    index: pd.DataFrame,
    by: str = "image",
    fraction: float = 0.1,
    seed: int = 0,
    groups: Sequence[Sequence[str]] = (),
    known: Iterable[str] | None = None,
) -> pd.Series:
    """``train``/``val`` for every row of ``index`` (columns dataset, image, x, y).

    ``by="image"``: a seeded random ``n_validation`` of the distinct (dataset, image) pairs,
    the images of one of ``groups`` counting as one unit (see the module docstring);
    ``by="patch"``: of the distinct (dataset, image, y, x) positions. Units are sorted before
    drawing (a group sits at its first member's place), so the result depends only on the
    index's content, the groups and ``seed``. ``known``: the sources' image names, checked
    against the groups' names.
    """
    if by not in SPLITS:
        raise RankSRGANError(f"split rule {by!r}: must be one of {', '.join(SPLITS)}")
    if groups and by != "image":
        raise RankSRGANError(
            f"split.groups needs split.by: image (by: {by} splits every image across the sets)"
        )
    member = group_of(groups, known)
    keys = ["dataset", "image"] + (["y", "x"] if by == "patch" else [])
    units = index[keys].drop_duplicates().sort_values(keys, kind="stable")
    units = units.reset_index(drop=True)
    # one draw unit per row, except that the rows of one group share their group's unit
    unit_id = [
        f"group/{member[img]}" if img in member else f"row/{i}"
        for i, img in enumerate(units["image"].astype(str))
    ]
    codes, distinct = pd.factorize(pd.Series(unit_id), sort=False)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(distinct), size=n_validation(len(distinct), fraction), replace=False)
    units["_split"] = np.where(np.isin(codes, chosen), VAL, TRAIN)
    merged = index[keys].merge(units, on=keys, how="left", validate="many_to_one")
    return pd.Series(merged["_split"].to_numpy(), index=index.index, name="split")
