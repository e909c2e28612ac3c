"""Build the demo archive from real photographs shipped inside installed packages.

Photos are looked up by file stem in scikit-image's ``data`` folder first, then in the other
installed folders of :func:`photo_dirs` (pyiqa's Kodak reference images and test photos,
matplotlib's sample data), so that ``config/mini.yaml`` can hold out test photos the demo's
training never saw.

The demo runs the same download/verify/extract path as the paper's archives, fed by a local
``file:`` URL to the zip written here. The zip is deterministic: members in a fixed order
(split order as given, then name order as given), fixed timestamps (1980-01-01) and
permissions, stored without recompression, PNGs encoded with fixed settings; so its sha256
depends only on the scikit-image photos and the Pillow/zlib build that encodes them.
"""

from __future__ import annotations

import importlib.util
import io
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ranksrgan.errors import RankSRGANError
from ranksrgan.io import atomic_path

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def skimage_data_dir() -> Path:
    """scikit-image's bundled ``data`` folder (photos shipped inside the wheel)."""
    try:
        import skimage
    except ImportError:  # pragma: no cover - skimage is a dependency
        raise RankSRGANError("scikit-image is not installed: cannot build the demo") from None
    return Path(skimage.__file__).parent / "data"


def photo_dirs() -> list[Path]:
    """Folders of real photos shipped with installed packages, searched in this order.

    - scikit-image's ``data`` folder (licences in its ``README.txt``);
    - pyiqa's ``ResultsCalibra/ref_dir`` (installed top-level by the pyiqa wheel): five
      512x384 reference images of TID2013 (I03, I04, I06, I08, I19), which are photos of the
      Kodak Lossless True Color Image Suite (Kodak's release for unrestricted use);
    - pyiqa's ``tests/test_efficiency_img_dir`` (also installed top-level by the wheel): four
      colour photos of 964-1152 px (``SPAQ_10241``, a SPAQ smartphone photo, and three
      video frames ``frame_*``), pyiqa's research-use test data; ``ResultsCalibra/dist_dir``
      (distorted copies of the Kodak photos) is deliberately not searched;
    - matplotlib's ``mpl-data/sample_data`` (``grace_hopper.jpg``, a US Navy public-domain
      photo).
    Folders that are absent (another pyiqa or matplotlib build) are skipped.
    """
    dirs = [skimage_data_dir()]
    # located, not imported: importing pyiqa loads torch and its model registry
    spec = importlib.util.find_spec("pyiqa")
    if spec is not None and spec.origin:
        site = Path(spec.origin).parent.parent
        dirs += [site / "ResultsCalibra" / "ref_dir", site / "tests" / "test_efficiency_img_dir"]
    try:
        import matplotlib

        dirs.append(Path(matplotlib.get_data_path()) / "sample_data")
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        pass
    return [d for d in dirs if d.is_dir()]


def find_photo(name: str, data_dir: Path | Sequence[Path]) -> Path:
    """The shipped file whose stem is ``name`` (first folder of ``data_dir`` that has it)."""
    dirs = [data_dir] if isinstance(data_dir, Path) else list(data_dir)
    for d in dirs:
        for suffix in _SUFFIXES:
            p = d / f"{name}{suffix}"
            if p.is_file():
                return p
    where = ", ".join(str(d) for d in dirs)
    raise RankSRGANError(f"demo_source.splits: no photo '{name}' in {where}")


def center_crop(img: np.ndarray, max_side: int) -> np.ndarray:
    """Centre crop to at most ``max_side`` pixels per side."""
    h, w = img.shape[:2]
    th, tw = min(h, max_side), min(w, max_side)
    top, left = (h - th) // 2, (w - tw) // 2
    return img[top: top + th, left: left + tw]


def photo_png(path: Path, max_side: int, min_side: int) -> bytes:
    """The photo as PNG bytes (RGB or grayscale as shipped), centre-cropped to ``max_side``."""
    with Image.open(path) as im:
        im.load()
        if im.mode not in ("RGB", "L"):
            raise RankSRGANError(f"{path}: demo photos must be RGB or grayscale, got {im.mode}")
        arr = np.asarray(im)
    arr = center_crop(arr, max_side)
    if min(arr.shape[:2]) < min_side:
        raise RankSRGANError(
            f"{path}: {arr.shape[0]}x{arr.shape[1]} is smaller than the demo minimum {min_side} px"
        )
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def build_demo_archive(
    splits: Mapping[str, Sequence[str]],
    output: str | os.PathLike,
    max_side: int = 512,
    min_side: int = 256,
    data_dir: str | os.PathLike | None = None,
) -> Path:
    """Write ``demo_photos/{split}/{name}.png`` for every photo of every split into a zip.

    Args:
        splits: split name -> photo names (file stems in scikit-image's data folder).
        output: the zip to write (atomically).
        max_side, min_side: centre-crop large photos to ``max_side``; refuse any smaller than
            ``min_side`` (LR x4 must stay >= 64 px for training patches).
        data_dir: photo folder (default: the installed folders of :func:`photo_dirs`).

    Returns:
        The output path.
    """
    src = Path(data_dir) if data_dir is not None else photo_dirs()
    seen: dict[str, str] = {}
    for split, names in splits.items():
        for name in names:
            if name in seen:
                raise RankSRGANError(
                    f"demo_source.splits: photo '{name}' is in both '{seen[name]}' and '{split}'"
                )
            seen[name] = split
    out = Path(output)
    with atomic_path(out, suffix=".zip") as tmp, zipfile.ZipFile(tmp, "w") as zf:
        for split, names in splits.items():
            for name in names:
                data = photo_png(find_photo(name, src), max_side, min_side)
                info = zipfile.ZipInfo(f"demo_photos/{split}/{name}.png", date_time=_FIXED_TIME)
                info.external_attr = (0o100644 << 16)
                info.create_system = 3  # unix, so the permission bits above are honoured
                info.compress_type = zipfile.ZIP_STORED  # PNG is compressed already
                zf.writestr(info, data)
    return out
