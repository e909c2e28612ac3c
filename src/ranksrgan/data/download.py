"""Download one archive with the project's downloader (:mod:`ranksrgan.io.download`).

Mirrors in order, retries, validated resume of ``{dest}.part``, length/size/sha256 checks and an
atomic rename come from the toolkit. This module adds the archive policy: when the config gives
no hash (``sha256: null``) a lock file (``sha256sum`` format, one ``<hash>  <file name>`` line per
archive) pins the hash of the first download, and a later run verifies against it. A hash is
pinned only after the archive has been shown to open and list completely
(:func:`ranksrgan.io.download.check_archive`), so a truncated download is never pinned.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from ranksrgan.errors import RankSRGANError
from ranksrgan.io import sha256_file
from ranksrgan.io.download import (
    check_archive,
    download,
    read_lock,
    record_lock,
    remove_partial,
)

log = logging.getLogger(__name__)


def download_archive(
    urls: Sequence[str],
    dest: str | os.PathLike,
    sha256: str | None = None,
    lock_path: str | os.PathLike | None = None,
    retries: int = 5,
    backoff_s: float = 2.0,
    timeout_s: float = 60.0,
    size: int | None = None,
) -> str:
    """Download an archive to ``dest`` and verify it; return its sha256.

    Args:
        urls: mirrors tried in order (``http(s)://`` or ``file:``; relative ``file:`` paths
            resolve against the current directory).
        dest: final path; written by an atomic rename of ``{dest}.part``.
        sha256: expected hash; ``None`` means use the lock file's entry, or check the archive
            and record one.
        lock_path: the sha256 lock file (default ``sha256.lock`` beside ``dest``).
        retries, backoff_s, timeout_s: extra attempts per mirror after a transient error,
            the first retry delay (doubled each time), the socket timeout.
        size: expected size in bytes (the config's ``archives.<name>.size``), or None.

    Raises:
        RankSRGANError: no mirror delivered a whole file of the expected size and hash (the
            bad file is deleted), or an unpinned archive does not open and list completely.
    """
    dest = Path(dest)
    lock = Path(lock_path) if lock_path is not None else dest.with_name("sha256.lock")
    expected, source = sha256, "config"
    if expected is None:
        expected, source = read_lock(lock).get(dest.name), str(lock)
    dest.parent.mkdir(parents=True, exist_ok=True)

    if dest.exists():
        actual = sha256_file(dest)
        why = None
        if expected is not None and actual != expected:
            why = f"sha256 {actual}, expected {expected}"
        elif size is not None and dest.stat().st_size != size:
            why = f"{dest.stat().st_size} bytes, expected {size}"
        elif expected is None:
            try:
                check_archive(dest)
            except RankSRGANError as exc:
                why = str(exc)
        if why is None:
            return _finish(dest, actual, expected, lock)
        log.warning("%s: existing file rejected (%s); downloading again", dest, why)
        dest.unlink()

    actual = download(
        urls, dest, sha256=expected, sha256_source=source, size=size,
        # Nothing pins the content: it must open and list completely before it is pinned.
        check=check_archive if expected is None else None,
        retries=retries, backoff_s=backoff_s, timeout_s=timeout_s,
    )
    return _finish(dest, actual, expected, lock)


def _finish(dest: Path, actual: str, expected: str | None, lock: Path) -> str:
    if expected is None:
        record_lock(lock, dest.name, actual)
        banner = "!" * 20
        log.warning(
            "%s UNVERIFIED ARCHIVE %s: %s has no sha256 in the config; it opens and lists "
            "completely, recorded %s in %s. Check it against a trusted source and put it in "
            "the config. %s",
            banner, dest.name, dest, actual, lock, banner,
        )
    else:
        log.info("%s: sha256 %s verified", dest, actual)
    return actual


__all__ = ["download_archive", "read_lock", "record_lock", "remove_partial"]
