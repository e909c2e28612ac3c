"""Weight files from a registry entry: the toolkit's one cached-file policy, or a local path.

An entry is a plain dict (the config's ``weights.<name>`` or a method's inline weights):
``{url: ..., sha256: ..., layout: ...}`` or ``{path: ..., sha256: ..., layout: ...}``.
``sha256`` may be null: then a hash prefix carried by the file name (torchvision's
``vgg19-dcbb9e9d.pth``, BasicSR's ``...-ff704c30.pth``: the first 8+ hex digits of the
file's sha256) is checked instead. An optional ``size`` (bytes) is checked too. A ``url``
entry is fetched by :func:`ranksrgan.io.fetch.fetch_cached` (reuse when verified, else
download, verify, pin in ``CACHE/weights/sha256.lock``), the policy of every download.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ranksrgan.errors import RankSRGANError
from ranksrgan.io.fetch import fetch_cached
from ranksrgan.io.integrity import (
    check_torch_file,
    expected_sha256,
    name_hash_prefix,
    verify_file,
)
from ranksrgan.io.transport import BACKOFF_S, RETRIES, TIMEOUT_S
from ranksrgan.layout import Layout

log = logging.getLogger(__name__)


def verify_sha256(path: str | os.PathLike, expected: str | None) -> str:
    """Hash ``path``; check it against ``expected`` (full hash or a prefix of >= 8 hex digits).

    With ``expected`` None the file-name prefix (if any) is checked. Returns the full hash.
    """
    p = Path(path)
    if not p.is_file():
        raise RankSRGANError(f"{p}: weights file not found")
    want = expected_sha256(expected, p)
    source = "expected"
    if want is None:
        want, source = name_hash_prefix(p), "file-name prefix"
    actual = verify_file(p, want, source=source)
    if want is None:
        log.warning("%s: no sha256 given; computed %s (record it in the config)", p, actual)
    return actual


def cached_path(entry: dict[str, Any], cache_dir: str | os.PathLike) -> Path:
    """Where ``fetch`` keeps an entry: the local path, or ``cache_dir/weights/<url name>``
    (the rule: :meth:`ranksrgan.layout.Layout.cached_weights`)."""
    return Path(Layout("", str(cache_dir)).cached_weights(entry))


def fetch(
    entry: dict[str, Any],
    cache_dir: str | os.PathLike,
    timeout_s: float = TIMEOUT_S,
    retries: int = RETRIES,
    backoff_s: float = BACKOFF_S,
) -> Path:
    """Return a verified local file for a weights entry, downloading it into the cache if needed.

    A local ``path`` entry is only verified. A ``url`` entry goes through
    :func:`ranksrgan.io.fetch.fetch_cached` with the torch-file check
    (:func:`ranksrgan.io.integrity.check_torch_file`) for a file no full sha256 pins, so a
    transfer cut short is never kept; errors are one line naming the file and the URL.
    """
    dest = cached_path(entry, cache_dir)
    if entry.get("path"):
        if not dest.is_file():
            from ranksrgan.config import weights_absent_message  # torch-free, one wording

            raise RankSRGANError(weights_absent_message(entry.get("name"), entry))
        verify_sha256(dest, entry.get("sha256"))
        return dest
    fetch_cached(
        [entry["url"]], dest, sha256=entry.get("sha256"), size=entry.get("size"),
        check=check_torch_file, what="weights file", name_prefix=True,
        retries=retries, backoff_s=backoff_s, timeout_s=timeout_s,
    )
    return dest
