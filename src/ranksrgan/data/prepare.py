"""Prepare one dataset: HR (mod-cropped) + x4 MATLAB-bicubic LR PNGs and a manifest.

For each archive member matching the dataset's globs (image id = file stem, sorted by id):
read under the image policy, crop bottom/right to a multiple of the scale (as the authors'
``modcrop``), write ``HR/{id}.png``, downsample as the authors' ``generate_mod_LR_bic.m``
(MATLAB ``imresize(im2double(hr), 1/scale, 'bicubic')`` then ``imwrite``:
:func:`ranksrgan.imresize.imresize_im2double`) and write ``LR_x{scale}/{id}.png``.
Resumable: an image whose HR and LR files both exist is not recomputed (both are written
atomically, so an existing file is a complete file).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from PIL import Image

from ranksrgan.data.extract import iter_extracted, list_members
from ranksrgan.errors import RankSRGANError
from ranksrgan.imresize import imresize_im2double
from ranksrgan.io import ImagePolicy, read_image, sha256_file, write_png
from ranksrgan.io.parquet import write_manifest

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = ["image", "hr_path", "lr_path", "height", "width", "hr_sha256", "lr_sha256"]


def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so that height and width are multiples of ``scale``."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def _image_ids(archive: Path, names: Sequence[str]) -> dict[str, str]:
    ids: dict[str, str] = {}
    for name in names:
        stem = PurePosixPath(name).stem
        if stem in ids:
            raise RankSRGANError(
                f"{archive}: members '{ids[stem]}' and '{name}' give the same image id '{stem}'"
            )
        ids[stem] = name
    return dict(sorted(ids.items()))


def _make_pair(src: Path, member: str, archive: Path, scale: int, policy: ImagePolicy,
               hr_path: Path, lr_path: Path) -> None:
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
    # LR first: an HR file without its LR is then never mistaken for a finished pair.
    write_png(lr_path, lr)
    write_png(hr_path, hr)


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

    todo = {name: image for image, name in ids.items()
            if not all(p.is_file() for p in paths(image))}
    log.info("%s: %d images, %d already prepared, %d to do", dataset, len(ids),
             len(ids) - len(todo), len(todo))
    for k, (name, src) in enumerate(iter_extracted(archive, kind, list(todo), out), 1):
        hr_path, lr_path = paths(todo[name])
        _make_pair(src, name, archive, scale, policy, hr_path, lr_path)
        log.info("%s: [%d/%d] %s", dataset, k, len(todo), todo[name])

    rows = []
    for image in ids:
        hr_path, lr_path = paths(image)
        with Image.open(hr_path) as im:
            width, height = im.size
        rows.append({
            "image": image, "hr_path": str(hr_path), "lr_path": str(lr_path),
            "height": height, "width": width,
            "hr_sha256": sha256_file(hr_path), "lr_sha256": sha256_file(lr_path),
        })
    df = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    write_manifest(df, manifest)  # paths relative to the manifest's folder
    return df
