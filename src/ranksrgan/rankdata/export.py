"""``ranksrgan rankdata export``: the authors' folder + label-file layout, for their code.

The authors' Ranker reads (``codes/options/train/train_Ranker.yml``, dataset class
``RANK_IMIM_Pair``) three folders of PNG patches, ``img1`` = the top level, and one label
file of ``<file name> <score>`` lines keyed by file name; the validation set is one folder
holding every level's patches. This writes, under ``out``:

- ``{prefix}_train_patch_{tag}/`` per level (tag: ``srres`` for srresnet, else the method
  name, lower case; e.g. ``DF2K_train_patch_esrgan``, ``..._srgan``, ``..._srres``);
- ``{prefix}_train_patch_label.txt``: per position the levels from lowest to highest, as
  ``generate_train_ranklabel.m`` writes them (``%f``);
- ``{prefix}_test_patch_all/`` and ``{prefix}_test_patch_label.txt`` for the validation split.

File names ``{dataset}_{image}_y{y}_x{x}_{tag}.png`` (zero-padded) are unique across folders
(the label file is keyed by the bare name) and sort the same way in every level's folder
(their loader pairs levels by sorted order). The label written is the index's ``label``
(lower = better; NIQE and PI as they are, Ma negated, so the authors' rule "target +1 when
the first score is >= the second" keeps its meaning for every metric). The folder is built
beside ``out`` and renamed onto it at the end, so an interrupted export leaves nothing.

The index's ``dataset``, ``image`` and ``method`` values become file and folder names, so each
must be a plain file name, and each ``path`` must stay inside the results folder the index
lives in (``R`` of ``R/rankdata/{name}/index.parquet``); otherwise the export stops with one
line naming the index and the row, before writing anything. Each image is checked against
the ``sha256`` the index recorded for it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from ranksrgan.errors import RankSRGANError
from ranksrgan.io import ImagePolicy, read_image, write_bytes_atomic, write_png
from ranksrgan.io.names import name_problem, rank_index_root
from ranksrgan.io.parquet import read_manifest
from ranksrgan.io.verify import verify_sha256

TAGS = {"srresnet": "srres"}
NEEDED = ("image", "dataset", "x", "y", "size", "method", "level", "path", "label", "split")
NAMES = ("dataset", "image", "method")  # values that become file / folder names


def level_tag(method: str) -> str:
    """Folder/file tag of a method in the authors' layout."""
    return TAGS.get(method, method.lower())


def patch_name(dataset: str, image: str, y: int, x: int, tag: str) -> str:
    """The exported patch file name (unique across levels, same sort order in every folder)."""
    return f"{dataset}_{image}_y{y:05d}_x{x:05d}_{tag}.png"


def export(
    index_path: str | os.PathLike,
    out: str | os.PathLike,
    prefix: str = "DF2K",
    policy: ImagePolicy | None = None,
) -> dict[str, int]:
    """Write the authors' layout of ``index_path`` to ``out`` (must not exist yet).

    Returns counts: ``files`` (PNGs written) and ``bytes`` (their size plus the label files).
    """
    out = Path(out)
    if out.exists():
        raise RankSRGANError(f"{out}: already exists (export writes a fresh folder)")
    why = name_problem(prefix)
    if why is not None:
        raise RankSRGANError(f"--prefix {prefix!r}: not a plain file name ({why})")
    index_path = Path(index_path)
    index = read_manifest(
        index_path, NEEDED, "rank index", root=rank_index_root(index_path), names=NAMES
    )
    policy = policy or ImagePolicy()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        counts = _write(index, tmp, prefix, policy, index_path)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return counts


def _write(
    index: pd.DataFrame, root: Path, prefix: str, policy: ImagePolicy, index_path: Path
) -> dict[str, int]:
    tags = {m: level_tag(m) for m in index["method"].unique()}
    if len(set(tags.values())) != len(tags):
        raise RankSRGANError(f"methods {sorted(tags)} map to the same export tag")
    files, nbytes = 0, 0
    labels: dict[str, list[str]] = {"train": [], "val": []}
    index = index.sort_values(["dataset", "image", "y", "x", "level"], kind="stable")
    for (dataset, image, path), rows in index.groupby(["dataset", "image", "path"], sort=False):
        if "sha256" in rows.columns:
            method = rows["method"].iloc[0]
            where = f"{index_path} (rank index), image {image} method {method}"
            for sha in rows["sha256"].unique():
                verify_sha256(path, sha, where, "the rankdata stage")
        img = read_image(path, policy)
        for r in rows.itertuples():
            tag = tags[r.method]
            folder = (
                f"{prefix}_train_patch_{tag}" if r.split == "train" else f"{prefix}_test_patch_all"
            )
            name = patch_name(str(dataset), str(image), int(r.y), int(r.x), tag)
            patch = img[r.y : r.y + r.size, r.x : r.x + r.size]
            if patch.shape[:2] != (r.size, r.size):
                raise RankSRGANError(
                    f"{path}: patch at ({r.x}, {r.y}) of size {r.size} leaves the image "
                    f"{img.shape[0]}x{img.shape[1]} (image {image}, method {r.method})"
                )
            target = root / folder / name
            write_png(target, patch)
            files += 1
            nbytes += target.stat().st_size
    # label lines position by position, levels lowest first (generate_*_ranklabel.m's order)
    for r in index.itertuples():
        split = "train" if r.split == "train" else "val"
        name = patch_name(str(r.dataset), str(r.image), int(r.y), int(r.x), tags[r.method])
        labels[split].append(f"{name} {r.label:f}\n")
    for split, lines in labels.items():
        kind = "train" if split == "train" else "test"
        p = root / f"{prefix}_{kind}_patch_label.txt"
        data = "".join(lines).encode()
        write_bytes_atomic(p, data)
        nbytes += len(data)
    return {"files": files, "bytes": nbytes}
