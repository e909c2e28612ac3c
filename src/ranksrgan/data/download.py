"""Download one archive: the toolkit's one cached-file policy with the archive content check.

:func:`ranksrgan.io.fetch.fetch_cached` does it all (reuse a verified file, mirrors, retries,
validated resume, size/sha256 checks, atomic rename). When the config gives no hash
(``sha256: null``) the lock file (``sha256.lock`` beside the archive, ``sha256sum`` format)
pins the hash of the first download, and a later run verifies against it. A hash is pinned only
after the archive has been shown to open and list completely
(:func:`ranksrgan.io.integrity.check_archive`), so a truncated download is never pinned.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ranksrgan.io.fetch import fetch_cached
from ranksrgan.io.integrity import check_archive
from ranksrgan.io.transport import BACKOFF_S, RETRIES, TIMEOUT_S


def download_archive(
    urls: Sequence[str],
    dest: str | os.PathLike,
    sha256: str | None = None,
    lock_path: str | os.PathLike | None = None,
    retries: int = RETRIES,
    backoff_s: float = BACKOFF_S,
    timeout_s: float = TIMEOUT_S,
    size: int | None = None,
) -> str:
    """Download an archive to ``dest`` (or keep the verified one there); return its sha256.

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
    return fetch_cached(
        urls, dest, sha256=sha256, sha256_source="config", size=size, check=check_archive,
        what="archive", lock=lock_path, retries=retries, backoff_s=backoff_s,
        timeout_s=timeout_s,
    )


__all__ = ["download_archive"]
