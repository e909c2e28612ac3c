"""Weight files from a registry entry: download + sha256 verify + cache, or a local path.

An entry is a plain dict (the config's ``weights.<name>`` or a method's inline weights):
``{url: ..., sha256: ..., layout: ...}`` or ``{path: ..., sha256: ..., layout: ...}``.
``sha256`` may be null: then a hash prefix carried by the file name (torchvision's
``vgg19-dcbb9e9d.pth``, BasicSR's ``...-ff704c30.pth``: the first 8+ hex digits of the
file's sha256) is checked instead, and the computed hash is logged.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from ranksrgan.errors import RankSRGANError
from ranksrgan.io import atomic_path, sha256_file

log = logging.getLogger(__name__)

_NAME_HASH = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$")


def name_hash_prefix(path: str | os.PathLike) -> str | None:
    """The sha256 prefix embedded in a file name (``name-<hex>.pth``), if any."""
    m = _NAME_HASH.search(Path(path).name)
    return m.group(1) if m else None


def verify_sha256(path: str | os.PathLike, expected: str | None) -> str:
    """Hash ``path``; check it against ``expected`` (full hash or a prefix of >= 8 hex digits).

    With ``expected`` None the file-name prefix (if any) is checked. Returns the full hash.
    """
    p = Path(path)
    if not p.is_file():
        raise RankSRGANError(f"{p}: weights file not found")
    actual = sha256_file(p)
    want, source = (
        (expected.lower(), "expected") if expected else (name_hash_prefix(p), "file-name prefix")
    )
    if want is not None:
        if len(want) < 8 or not re.fullmatch(r"[0-9a-f]+", want):
            raise RankSRGANError(f"{p}: bad sha256 '{expected}' (need >= 8 hex digits)")
        if not actual.startswith(want):
            raise RankSRGANError(f"{p}: sha256 mismatch: {source} {want}, got {actual}")
    else:
        log.warning("%s: no sha256 given; computed %s (record it in the config)", p, actual)
    return actual


def _download(url: str, dest: Path, timeout_s: float) -> None:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        src = Path(
            urllib.parse.unquote(parsed.path)
            if parsed.netloc == ""
            else parsed.netloc + parsed.path
        )
        if not src.is_file():
            raise RankSRGANError(f"{url}: file not found")
        with atomic_path(dest) as tmp:
            shutil.copyfile(src, tmp)
        return
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp, atomic_path(dest) as tmp:
            with open(tmp, "wb") as fh:
                shutil.copyfileobj(resp, fh, length=1 << 20)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise RankSRGANError(f"{url}: download failed ({exc})") from None


def cached_path(entry: dict[str, Any], cache_dir: str | os.PathLike) -> Path:
    """Where ``fetch`` keeps an entry: the local path, or ``cache_dir/weights/<url name>``."""
    if entry.get("path"):
        return Path(entry["path"])
    url = entry.get("url")
    if not url:
        raise RankSRGANError(f"weights entry {entry}: needs 'url' or 'path'")
    name = Path(urllib.parse.urlparse(url).path).name
    if not name:
        raise RankSRGANError(f"{url}: URL has no file name")
    return Path(cache_dir) / "weights" / name


def fetch(entry: dict[str, Any], cache_dir: str | os.PathLike, timeout_s: float = 60.0) -> Path:
    """Return a verified local file for a weights entry, downloading it into the cache if needed.

    A cached file is re-verified and re-downloaded if its hash does not match; a fresh download
    that does not match is deleted and reported in one line naming the URL and both hashes.
    """
    dest = cached_path(entry, cache_dir)
    expected = entry.get("sha256")
    if entry.get("path"):
        verify_sha256(dest, expected)
        return dest
    if dest.is_file():
        try:
            verify_sha256(dest, expected)
            return dest
        except RankSRGANError as exc:
            log.warning("cached weights rejected, downloading again: %s", exc)
    log.info("downloading %s -> %s", entry["url"], dest)
    _download(entry["url"], dest, timeout_s)
    try:
        verify_sha256(dest, expected)
    except RankSRGANError as exc:
        dest.unlink(missing_ok=True)
        raise RankSRGANError(f"{entry['url']}: {exc}") from None
    return dest
