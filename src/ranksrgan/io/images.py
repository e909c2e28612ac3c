"""Image reading with one explicit policy, and atomic PNG writing.

Policy (documented in config/README.md): every image becomes H x W x 3 uint8 RGB.
- 16-bit images are scaled to 8 bit with ``round(v / 257)``;
- grayscale is replicated to three channels;
- an alpha channel is dropped when fully opaque, otherwise handled by ``alpha`` policy
  (``"error"`` by default: an SR benchmark image with transparency is a data problem);
- corrupt, truncated or unreadable files and images smaller than ``min_size`` raise
  :class:`RankSRGANError` naming the file.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.atomic import atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class ImagePolicy:
    """How :func:`read_image` normalises unusual images."""

    alpha: str = "error"  # "error" | "drop" | "white" (composite onto white)
    min_size: int = 1  # smallest accepted height and width, in pixels


def _to_uint8(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16 or (arr.dtype.kind in "iu" and arr.max(initial=0) > 255):
        return np.clip(np.round(arr.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if arr.dtype.kind in "iu":
        return arr.astype(np.uint8)
    raise RankSRGANError(f"{path}: unsupported pixel type {arr.dtype}")


def read_image(path: str | os.PathLike, policy: ImagePolicy = ImagePolicy()) -> np.ndarray:
    """Read an image file as H x W x 3 uint8 RGB under ``policy``.

    Raises:
        RankSRGANError: missing, corrupt, truncated, too small or transparent (policy) image.
    """
    p = Path(path)
    if not p.is_file():
        raise RankSRGANError(f"{p}: image file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                im.load()
                mode = im.mode
                if mode in ("I;16", "I;16B", "I;16L", "I"):
                    arr = np.asarray(im, dtype=np.uint16 if mode.startswith("I;16") else np.int64)
                elif mode == "P":
                    im2 = im.convert("RGBA")
                    arr = np.asarray(im2)
                elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "F", "1"):
                    arr = np.asarray(im.convert("RGB" if mode != "F" else "L"))
                else:
                    arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise RankSRGANError(f"{p}: corrupt or truncated image ({exc})") from None
    arr = _to_uint8(np.asarray(arr), p)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.shape[2] == 2:  # LA
        arr = np.concatenate([np.repeat(arr[:, :, :1], 3, axis=2), arr[:, :, 1:]], axis=2)
    if arr.shape[2] == 4:
        rgb, a = arr[:, :, :3], arr[:, :, 3]
        if a.min() == 255 or policy.alpha == "drop":
            arr = rgb
        elif policy.alpha == "white":
            af = a[:, :, None].astype(np.float64) / 255.0
            arr = np.round(rgb.astype(np.float64) * af + 255.0 * (1 - af)).astype(np.uint8)
        else:
            raise RankSRGANError(f"{p}: image has transparency (image policy alpha=error)")
    h, w = arr.shape[:2]
    if min(h, w) < policy.min_size:
        raise RankSRGANError(
            f"{p}: image is {h}x{w}, smaller than the minimum {policy.min_size} px"
        )
    return np.ascontiguousarray(arr)


def write_png(path: str | os.PathLike, img: np.ndarray, compress_level: int = 1) -> None:
    """Write an H x W x 3 (or H x W) uint8 array as PNG, atomically."""
    if img.dtype != np.uint8:
        raise RankSRGANError(f"{path}: write_png expects uint8, got {img.dtype}")
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(img).save(tmp, format="PNG", compress_level=compress_level)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in ``folder``, sorted by name (hidden/temporary files skipped)."""
    d = Path(folder)
    if not d.is_dir():
        raise RankSRGANError(f"{d}: image folder not found")
    return sorted(
        f
        for f in d.iterdir()
        if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".") and f.is_file()
    )
