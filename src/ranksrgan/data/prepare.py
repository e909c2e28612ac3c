"""Prepare one dataset: HR (mod-cropped) + x4 MATLAB-bicubic LR PNGs and a manifest.

For each archive member matching the dataset's globs (image id = file stem, sorted by id):
read under the image policy, crop bottom/right to a multiple of the scale (as the authors'
``modcrop``), write ``HR/{id}.png``, downsample as the authors' ``generate_mod_LR_bic.m``
(MATLAB ``imresize(im2double(hr), 1/scale, 'bicubic')`` then ``imwrite``:
:func:`ranksrgan.imresize.imresize_im2double`) and write ``LR_x{scale}/{id}.png``.
Resumable, keyed on what made each pair: a sidecar ``.sidecar/{id}.json`` in the dataset
folder records the source member's name and sha256, the scale (which is also the mod-crop), the
image policy, the LR recipe, and the HR/LR files' own hashes. A rerun reuses a pair only when
all of these still match (and both files still hash as recorded); a changed archive member, a
changed policy (e.g. ``alpha: error`` after ``drop``) or a replaced file rebuilds it. Members are
therefore hashed on every run (one extracted file at a time); decoding and the bicubic
downsampling, the expensive part, run only for pairs that are rebuilt.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from ranksrgan.data.extract import iter_extracted, list_members
from ranksrgan.errors import RankSRGANError
from ranksrgan.imresize import imresize_im2double
from ranksrgan.io import (
    ImagePolicy,
    read_image,
    sha256_file,
    write_bytes_atomic,
    write_png,
)
from ranksrgan.io.contracts import DATA_MANIFEST_COLUMNS
from ranksrgan.io.names import name_problem
from ranksrgan.io.parquet import write_manifest

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = list(DATA_MANIFEST_COLUMNS)
# Names the HR/LR recipe in each sidecar: change it when the code makes different pixels from
# the same member and settings, so that old pairs are rebuilt.
RECIPE = "modcrop + imresize_im2double bicubic, v1"


def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so that height and width are multiples of ``scale``."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def _image_ids(archive: Path, names: Sequence[str]) -> dict[str, str]:
    ids: dict[str, str] = {}
    for name in names:
        stem = PurePosixPath(name).stem
        # the id names HR/{id}.png, LR_x4/{id}.png and the sidecar, and every later stage's
        # files (SR PNGs, exported patches): it must be a plain file name
        why = name_problem(stem)
        if why is not None:
            raise RankSRGANError(
                f"{archive}: member '{name}' gives image id {stem!r}, not a plain file name "
                f"({why})"
            )
        if stem in ids:
            raise RankSRGANError(
                f"{archive}: members '{ids[stem]}' and '{name}' give the same image id '{stem}'"
            )
        ids[stem] = name
    return dict(sorted(ids.items()))


def _make_pair(src: Path, member: str, archive: Path, scale: int, policy: ImagePolicy,
               hr_path: Path, lr_path: Path) -> tuple[int, int]:
    """Write the HR/LR pair of one extracted member; return the HR (height, width)."""
    try:
        img = read_image(src, policy)
    except RankSRGANError as exc:
        reason = str(exc).removeprefix(f"{src}: ")
        raise RankSRGANError(f"{archive}: member '{member}': {reason}") from None
    hr = mod_crop(img, scale)
    if min(hr.shape[:2]) < scale:
        raise RankSRGANError(
            f"{archive}: member '{member}': image is {img.shape[0]}x{img.shape[1]}, "
            f"too small for x{scale} downsampling"
        )
    lr = imresize_im2double(hr, 1.0 / scale)
    write_png(lr_path, lr)
    write_png(hr_path, hr)
    return int(hr.shape[0]), int(hr.shape[1])


def pair_key(member: str, member_sha256: str, scale: int, policy: ImagePolicy) -> dict[str, Any]:
    """Everything that decides a pair's pixels (stored in its sidecar, compared on resume)."""
    return {
        "member": member,
        "member_sha256": member_sha256,
        "scale": int(scale),
        "mod_crop": int(scale),
        "image_policy": asdict(policy),
        "recipe": RECIPE,
    }


def _reusable(side: Path, key: dict[str, Any], hr_path: Path, lr_path: Path) -> dict | None:
    """The sidecar record when the pair on disk was made from ``key`` and is unchanged."""
    if not (side.is_file() and hr_path.is_file() and lr_path.is_file()):
        return None
    try:
        rec = json.loads(side.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None  # a damaged record is only a cache: rebuild the pair
    if (
        not isinstance(rec, dict)
        or rec.get("key") != key
        or rec.get("hr_sha256") != sha256_file(hr_path)
        or rec.get("lr_sha256") != sha256_file(lr_path)
    ):
        return None
    return rec


def prepare_dataset(
    dataset: str,
    archive: str | os.PathLike,
    kind: str,
    members: Sequence[str],
    images: int,
    out_dir: str | os.PathLike,
    manifest: str | os.PathLike,
    scale: int = 4,
    policy: ImagePolicy | None = None,
) -> pd.DataFrame:
    """Build ``out_dir/HR``, ``out_dir/LR_x{scale}`` and the manifest of one dataset.

    Args:
        dataset: dataset name (for messages).
        archive, kind: the downloaded archive and its type (zip, tar, tar.gz, tgz).
        members: globs selecting the dataset's images inside the archive.
        images: expected number of images (the run fails if the archive holds another count).
        out_dir: dataset folder; manifest paths are ``out_dir``-prefixed as given.
        manifest: Parquet file written atomically at the end.
        scale: downsampling factor.
        policy: image reading policy (default :class:`ImagePolicy`).

    Returns:
        The manifest (columns ``MANIFEST_COLUMNS``, one row per image, sorted by image id).
    """
    archive = Path(archive)
    out = Path(out_dir)
    policy = policy or ImagePolicy()
    names = list_members(archive, kind, members)
    ids = _image_ids(archive, names)
    if len(ids) != images:
        raise RankSRGANError(
            f"{archive}: dataset {dataset} expects {images} images matching {list(members)}, "
            f"found {len(ids)}"
        )
    hr_dir, lr_dir = out / "HR", out / f"LR_x{scale}"

    def paths(image: str) -> tuple[Path, Path]:
        return hr_dir / f"{image}.png", lr_dir / f"{image}.png"

    side_dir = out / ".sidecar"
    image_of = {name: image for image, name in ids.items()}
    records: dict[str, dict] = {}
    for name, src in iter_extracted(archive, kind, list(image_of), out):
        image = image_of[name]
        hr_path, lr_path = paths(image)
        side = side_dir / f"{image}.json"
        key = pair_key(name, sha256_file(src), scale, policy)
        rec = _reusable(side, key, hr_path, lr_path)
        if rec is None:
            # Drop the old record first: a pair half rewritten before a kill is then never
            # taken for the old one.
            side.unlink(missing_ok=True)
            height, width = _make_pair(src, name, archive, scale, policy, hr_path, lr_path)
            rec = {"key": key, "height": height, "width": width,
                   "hr_sha256": sha256_file(hr_path), "lr_sha256": sha256_file(lr_path)}
            write_bytes_atomic(side, json.dumps(rec, indent=1).encode())
            log.info("%s: [%d/%d] %s prepared", dataset, len(records) + 1, len(ids), image)
        else:
            rec["reused"] = True
        records[image] = rec
    reused = sum(1 for r in records.values() if r.get("reused"))
    log.info("%s: %d images, %d reused from an earlier run with the same member and settings, "
             "%d prepared", dataset, len(ids), reused, len(ids) - reused)

    rows = []
    for image in ids:
        hr_path, lr_path = paths(image)
        rec = records[image]
        rows.append({
            "image": image, "hr_path": str(hr_path), "lr_path": str(lr_path),
            "height": rec["height"], "width": rec["width"],
            "hr_sha256": rec["hr_sha256"], "lr_sha256": rec["lr_sha256"],
        })
    df = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    write_manifest(df, manifest)  # paths relative to the manifest's folder
    return df
