"""Check files against the sha256 a table recorded for them, hashing each file once.

Tables record each file's sha256 (the data manifest per HR/LR image, an sr manifest per SR
image, the rank index per SR/HR image). A stage that reads such a file checks it with
:func:`verify_sha256` first, so a file replaced after the table was written is refused
instead of silently used.

The hash of a file is cached in-process, keyed on the file's path and its ``stat`` (size,
``mtime_ns``, ``ctime_ns``, inode): a file read by many rows (the rank index names each SR
image once per position) or by several checks is hashed once, and any rewrite (the atomic
writers replace the inode; an in-place write moves the times) misses the cache and is hashed
again. No on-disk cache: every reader decodes the file anyway, which costs more than the hash.
"""

from __future__ import annotations

import os
import threading

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.hashing import sha256_file

_CACHE: dict[tuple, str] = {}
_LOCK = threading.Lock()  # the rankdata shard checks files from a decoding thread


def _key(path: str | os.PathLike) -> tuple:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise RankSRGANError(f"{path}: file not found") from None
    except OSError as exc:
        raise RankSRGANError(f"{path}: cannot read ({exc.strerror})") from None
    return (
        os.path.abspath(path),
        st.st_size,
        st.st_mtime_ns,
        st.st_ctime_ns,
        st.st_ino,
        st.st_dev,
    )


def cached_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of ``path``, from the cache when the file is unchanged since last hashed."""
    key = _key(path)
    with _LOCK:
        have = _CACHE.get(key)
    if have is None:
        have = sha256_file(path)
        with _LOCK:
            _CACHE[key] = have
    return have


def verify_sha256(
    path: str | os.PathLike,
    expected: object,
    where: str,
    rerun: str = "the stage that wrote it",
) -> str:
    """The file's sha256; a one-line error naming the file when it differs from ``expected``.

    Args:
        path: the file to check.
        expected: the recorded hex sha256. Empty or missing (``None``/NaN, an older table
            without hashes) means nothing was recorded: the file is hashed, not checked.
        where: the table and row that recorded it, e.g. ``"data manifest M, image baby"``.
        rerun: what to rerun to make them agree again (for the message).

    Returns:
        The file's actual sha256 (equal to ``expected`` when one was recorded).
    """
    have = cached_sha256(path)
    want = expected.strip().lower() if isinstance(expected, str) else ""
    if want and have != want:
        raise RankSRGANError(
            f"{path}: sha256 {have[:12]}... differs from {want[:12]}... recorded in {where} "
            f"(the file changed after that table was written: rerun {rerun})"
        )
    return have


def clear_cache() -> None:
    """Forget every cached hash (tests; a long-lived process that wants to re-hash)."""
    with _LOCK:
        _CACHE.clear()
