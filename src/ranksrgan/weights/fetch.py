"""Weight files from a registry entry: download + sha256 verify + cache, or a local path.

An entry is a plain dict (the config's ``weights.<name>`` or a method's inline weights):
``{url: ..., sha256: ..., layout: ...}`` or ``{path: ..., sha256: ..., layout: ...}``.
``sha256`` may be null: then a hash prefix carried by the file name (torchvision's
``vgg19-dcbb9e9d.pth``, BasicSR's ``...-ff704c30.pth``: the first 8+ hex digits of the
file's sha256) is checked instead, and the computed hash is logged. An optional ``size``
(bytes) is checked on download. Downloads use the project's one downloader
(:mod:`ranksrgan.io.download`).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from ranksrgan.errors import RankSRGANError
from ranksrgan.io import sha256_file
from ranksrgan.io.download import check_torch_file, download
from ranksrgan.layout import Layout

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


def cached_path(entry: dict[str, Any], cache_dir: str | os.PathLike) -> Path:
    """Where ``fetch`` keeps an entry: the local path, or ``cache_dir/weights/<url name>``
    (the rule: :meth:`ranksrgan.layout.Layout.cached_weights`)."""
    return Path(Layout("", str(cache_dir)).cached_weights(entry))


def fetch(
    entry: dict[str, Any],
    cache_dir: str | os.PathLike,
    timeout_s: float = 60.0,
    retries: int = 5,
    backoff_s: float = 2.0,
) -> Path:
    """Return a verified local file for a weights entry, downloading it into the cache if needed.

    Downloads go through :func:`ranksrgan.io.download.download` (retries, validated resume,
    length and ``size`` checks, atomic rename). A file without a full sha256 in the entry must
    also pass :func:`ranksrgan.io.download.check_torch_file` before it is cached, so a transfer
    cut short is never kept. A cached file is re-verified and re-downloaded if it fails; a
    fresh download that fails is deleted and reported in one line naming the URL.
    """
    dest = cached_path(entry, cache_dir)
    expected = entry.get("sha256")
    size = entry.get("size")
    if entry.get("path"):
        if not dest.is_file():
            from ranksrgan.config import weights_absent_message  # torch-free, one wording

            raise RankSRGANError(weights_absent_message(entry.get("name"), entry))
        verify_sha256(dest, expected)
        return dest
    full_hash = bool(expected) and len(expected) == 64
    if dest.is_file():
        try:
            verify_sha256(dest, expected)
            if size is not None and dest.stat().st_size != size:
                raise RankSRGANError(f"{dest}: {dest.stat().st_size} bytes, expected {size}")
            if not full_hash:
                check_torch_file(dest)
            return dest
        except RankSRGANError as exc:
            log.warning("cached weights rejected, downloading again: %s", exc)
            dest.unlink()
    want = expected.lower() if expected else name_hash_prefix(dest)
    if want is not None and (len(want) < 8 or not re.fullmatch(r"[0-9a-f]+", want)):
        raise RankSRGANError(f"{entry['url']}: bad sha256 '{expected}' (need >= 8 hex digits)")
    log.info("downloading %s -> %s", entry["url"], dest)
    try:
        actual = download(
            [entry["url"]], dest, sha256=want,
            sha256_source="expected" if expected else "file-name prefix", size=size,
            check=None if full_hash else check_torch_file,
            retries=retries, backoff_s=backoff_s, timeout_s=timeout_s,
        )
    except RankSRGANError as exc:
        raise RankSRGANError(f"{entry['url']}: {exc}") from None
    if want is None:
        log.warning("%s: no sha256 given; computed %s (record it in the config)", dest, actual)
    return dest
